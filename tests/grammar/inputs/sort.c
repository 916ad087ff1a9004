int gcd(int a, int b) {
    while (b != 0) {
        int t = b;
        b = a - (a / b) * b;
        a = t;
    }
    return a;
}

int main() {
    /* the entry point */
    int total = 0;
    for (int i = 0; i < 10; i = i + 1) {
        if (gcd(i, 4) == 2) {
            total = total + i;
        } else {
            total = total - 1;
        }
    }
    printf(total);
    return 0;
}
