# sort(1) on a generated file of several MB (input.txt in the working
# directory, made by gen_sort_input.pl): whole output of a plain sort, then
# checksums of keyed, numeric, unique and small-buffer (external merge with
# temporary files) sorts.
set -eu
sort input.txt
sort -t, -k2,2n -k1,1 input.txt | cksum
sort -t, -k3,3g -k1,1r --parallel=2 input.txt | cksum
sort -u -t, -k1,1 input.txt | wc -l
sort -S 512K -T "$TMPDIR" -t, -k1,1 -k2,2n input.txt | cksum
sort -r -S 1M --batch-size=4 -T "$TMPDIR" input.txt | cksum
sort -m <(sort -t, -k1,1 input.txt) <(sort -t, -k1,1 input.txt) | cksum
