// Prints the lines Files.readAllLines returns for the file named by the first argument.
import java.nio.file.Files;
import java.nio.file.Path;

public class Read {
    public static void main(String[] args) throws Exception {
        for (String line : Files.readAllLines(Path.of(args[0]))) {
            System.out.println(line);
        }
    }
}
