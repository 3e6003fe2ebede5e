/* The one CSV field splitter, for metrics.csv and sweep.csv lines. */
#ifndef NL_CSV_H
#define NL_CSV_H

/* Cut line into fields in place. Line ends (any trailing '\n' and '\r') are dropped; a line
 * without one is split the same. Fields are separated by commas; a field that begins with a
 * double quote runs to the closing quote (commas inside it do not separate, "" stands for one
 * quote) and is unquoted in place. fields[i] points at field i, NUL-terminated, for i < max;
 * nothing is written past fields[max - 1]. Returns the number of fields in the line, which is
 * more than max when it has too many, or -1 when a quoted field is not closed or is followed by
 * something other than a comma or the end of the line. An empty line is one empty field. */
int nl_csv_split(char *line, char **fields, int max);

#endif
