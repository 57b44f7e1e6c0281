# gcc compiling C (and g++ compiling C++) in the working directory, at
# several optimisation levels, then running the results.  Diagnostics go
# to stderr and are compared; object and assembly output is compared
# through checksums.  Usage: gcc.sh C_SOURCE CXX_SOURCE
set -eu
cp "$1" prog.c
cp "$2" prog.cpp
gcc -O0 -g -Wall -o prog0 prog.c
./prog0
gcc -O2 -Wall -Wextra -frandom-seed=1 -o prog2 prog.c
./prog2
gcc -O2 -S -frandom-seed=1 -o prog2.s prog.c
cksum <prog2.s
gcc -O3 -fno-ident -frandom-seed=1 -c -o prog3.o prog.c
cksum <prog3.o
gcc -E prog.c | grep -c . >/dev/null
g++ -O1 -std=gnu++17 -pthread -frandom-seed=1 -o progxx prog.cpp
./progxx
echo "gcc: done"
