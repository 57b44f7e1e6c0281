/*
 * Writing the heap profile (PACEGC_PROFILE=path): the samples memprof.h
 * keeps, as a gzipped profile.proto (pprof.h) that `go tool pprof` reads
 * with no symbol files: sample types allocated, in use and reclaimed
 * (objects and bytes, scaled for sampling as Go scales its heap profile;
 * reclaimed bytes the default — the program's leaks, by allocation site),
 * mappings from /proc/self/maps, function names from the ELF files
 * (elfsym.h).  Written every PACEGC_PROFILE_INTERVAL and at exit, whole
 * (outfile.h).
 *
 * The writer runs on the thread that finds it due, holding no lock of
 * pacegc's but memprof's, briefly, for a copy of the buckets; what it
 * needs it keeps in bookkeeping memory, and it uses little stack (a
 * thread with a 16 KiB stack may be the one).
 */
#ifndef PACEGC_PROFILE_OUT_H
#define PACEGC_PROFILE_OUT_H

#include "config.h"
#include "util.h"

/* At start-up: turns sampling on (memprof_init) when there is a file. */
void profile_out_init(const pacegc_config_t *c);

/* Whether a periodic write is due at now; cheap. */
bool profile_out_due(uint64_t now_ns);

/* Writes the file, unless a write is in progress on another thread.  One
 * pacegc: line the first time it cannot be written. */
void profile_out_write(void);

void profile_out_after_fork_child(void);

#endif
