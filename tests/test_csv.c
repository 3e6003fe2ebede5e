/* The CSV field splitter (engine/csv.h) shared by metrics.csv and sweep.csv. */
#include "../engine/csv.h"
#include "t.h"

/* Split a copy of text with room for max fields; returns the count. */
static int split(const char *text, char *buf, size_t cap, char **f, int max)
{
    snprintf(buf, cap, "%s", text);
    return nl_csv_split(buf, f, max);
}

static void test_csv_plain_and_empty(void)
{
    char buf[128], *f[8];
    T_CHECK(split("a,bc,d\n", buf, sizeof buf, f, 8) == 3, "three fields");
    T_CHECK(!strcmp(f[0], "a") && !strcmp(f[1], "bc") && !strcmp(f[2], "d"), "got '%s' '%s' '%s'",
            f[0], f[1], f[2]);
    T_CHECK(split("x,,y,\n", buf, sizeof buf, f, 8) == 4, "empty fields counted");
    T_CHECK(!strcmp(f[0], "x") && !*f[1] && !strcmp(f[2], "y") && !*f[3], "empty fields");
    T_CHECK(split("", buf, sizeof buf, f, 8) == 1 && !*f[0], "an empty line is one empty field");
    T_CHECK(split("\n", buf, sizeof buf, f, 8) == 1 && !*f[0], "a bare newline is one field");
    T_CHECK(split(",", buf, sizeof buf, f, 8) == 2 && !*f[0] && !*f[1], "one comma, two fields");
}

static void test_csv_line_ends(void)
{
    char buf[128], *f[8];
    T_CHECK(split("1,2", buf, sizeof buf, f, 8) == 2 && !strcmp(f[1], "2"),
            "a line without a newline splits the same");
    T_CHECK(split("1,2\r\n", buf, sizeof buf, f, 8) == 2 && !strcmp(f[1], "2"),
            "CRLF dropped: got '%s'", f[1]);
    T_CHECK(split("1,\"2\"\n", buf, sizeof buf, f, 8) == 2 && !strcmp(f[1], "2"),
            "a quoted last field before the newline: got '%s'", f[1]);
}

static void test_csv_quoted(void)
{
    char buf[128], *f[8];
    T_CHECK(split("\"a,b\",c", buf, sizeof buf, f, 8) == 2,
            "a comma inside quotes separates nothing");
    T_CHECK(!strcmp(f[0], "a,b") && !strcmp(f[1], "c"), "got '%s' '%s'", f[0], f[1]);
    T_CHECK(split("\"say \"\"hi\"\"\",\"\"", buf, sizeof buf, f, 8) == 2, "doubled quotes");
    T_CHECK(!strcmp(f[0], "say \"hi\"") && !*f[1], "got '%s' '%s'", f[0], f[1]);
    T_CHECK(split("ab\"c,d", buf, sizeof buf, f, 8) == 2 && !strcmp(f[0], "ab\"c"),
            "a quote inside an unquoted field is kept");
    T_CHECK(split("\"open,end", buf, sizeof buf, f, 8) == -1, "an unclosed quote is refused");
    T_CHECK(split("\"a\"b,c", buf, sizeof buf, f, 8) == -1,
            "text after a closing quote is refused");
}

/* More fields than room: the count says so and nothing is written past the room given. */
static void test_csv_overlong(void)
{
    enum { N = 20000 };
    char *line = malloc(2 * N + 1);
    T_CHECK(line != NULL, "out of memory");
    if (!line)
        return;
    for (int i = 0; i < N; i++) {
        line[2 * i] = (char)('a' + i % 26);
        line[2 * i + 1] = ',';
    }
    line[2 * N - 1] = '\n';
    line[2 * N] = '\0';
    char *f[5];
    char sentinel[] = "untouched";
    f[4] = sentinel;
    int n = nl_csv_split(line, f, 4);
    T_CHECK(n == N, "counted %d fields of %d", n, N);
    T_CHECK(f[4] == sentinel, "wrote past the room given");
    T_CHECK(!strcmp(f[0], "a") && !strcmp(f[3], "d"), "first fields '%s' '%s'", f[0], f[3]);
    free(line);
}

int main(void)
{
    T_RUN(test_csv_plain_and_empty);
    T_RUN(test_csv_line_ends);
    T_RUN(test_csv_quoted);
    T_RUN(test_csv_overlong);
    T_END();
}
