int compare(int a, int b) {
    return a - b;
}

int main() {
    int values[5] = {3, 1, 4, 1, 5};
    int i, j;
    for (i = 0; i < 5; i++) {
        for (j = i + 1; j < 5; j++) {
            if (compare(values[i], values[j]) > 0) {
                int t = values[i];
                values[i] = values[j];
                values[j] = t;
            }
        }
    }
    printf("%d\n", values[0]);
    return 0;
}
