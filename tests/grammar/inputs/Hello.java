import java.util.ArrayList;
import java.util.List;

public class Hello {
    private int count = 0;

    public static void main(String[] args) {
        List<String> names = new ArrayList<>();
        names.add("world");
        for (String name : names) {
            System.out.println("Hello, " + name + "!");
        }
    }

    int increment(int by) {
        count += by;
        return count;
    }
}
