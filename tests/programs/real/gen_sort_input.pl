# Writes the input of the sort comparison to stdout: 250000 lines of
# "word,integer,decimal" (about 6 MB), from a fixed seed.
use strict;
use warnings;
srand(12345);
for (1 .. 250000) {
    my $w = join '', map { chr(97 + int(rand(26))) } 1 .. (3 + int(rand(12)));
    printf "%s,%d,%.4f\n", $w, int(rand(1e6)), rand(1000);
}
