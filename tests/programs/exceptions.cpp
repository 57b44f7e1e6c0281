// C++ exceptions carrying heap objects across frames while cycles run.
//
// The thrown object itself lives in memory from malloc
// (__cxa_allocate_exception, which returns a pointer past its header: an
// interior pointer), and while it is in flight or being handled the
// runtime's only reference to it is in thread-local storage or in the
// unwinder's frames.  What it carries is on the heap too:
//   - std::string (long enough not to fit in the string itself), thrown
//     through DEPTH frames whose destructors allocate while unwinding;
//   - std::unique_ptr<Payload>, Payload holding a pattern-filled vector;
//   - std::runtime_error with a long message (a reference-counted string);
//   - std::throw_with_nested: a chain of exceptions;
//   - std::exception_ptr: many exceptions kept only through exception_ptr
//     in a vector, rethrown and checked later;
//   - exceptions passed between threads through std::promise/std::future.
// In every catch handler memory is churned and cycles run before the
// exception's contents are checked.  Meant to run with
// PACEGC_GODEBUG=gcstress=N.  Deterministic output; a check failing exits 1.
#include <dlfcn.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#define CHECK(cond, ...)                                                    \
	do {                                                                \
		if (!(cond)) {                                              \
			std::fprintf(stderr, "FAIL %s:%d: check '%s' failed: ", \
				     __FILE__, __LINE__, #cond);           \
			std::fprintf(stderr, __VA_ARGS__);                  \
			std::fputc('\n', stderr);                           \
			std::fflush(stderr);                                \
			_exit(1);                                           \
		}                                                           \
	} while (0)

namespace {

constexpr int DEPTH = 30;
constexpr int ROUNDS = 40;

uint64_t next(uint64_t &s)
{
	uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

std::string pattern_string(uint64_t seed, size_t n)
{
	std::string s(n, '\0');
	for (size_t i = 0; i < n; i++)
		s[i] = (char)('a' + (seed + i * 7) % 26);
	return s;
}

// pacegc_collect() when preloaded, nothing in a plain run.
void (*collect)(void);

void sleep_ms(long ms)
{
	timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0) {
	}
}

// Cycles at least the reclaim delay apart, and allocation churn.
void cycles_and_churn(uint64_t &rng)
{
	for (int k = 0; k < 2; k++) {
		std::vector<std::unique_ptr<std::string>> junk;
		for (int i = 0; i < 300; i++)
			junk.emplace_back(new std::string(
				1 + next(rng) % 700, (char)('A' + i % 26)));
		if (collect) {
			if (k)
				sleep_ms(15);
			collect();
		}
	}
}

// Allocates in its destructor, which runs while an exception unwinds
// through its frame.
struct Unwinder {
	std::vector<std::string> held;
	explicit Unwinder(int d) : held(3, std::string(40 + d, 'u')) {}
	~Unwinder()
	{
		std::string tmp(500, 'd');
		std::vector<std::string> more(8, tmp);
		CHECK(held[0] == std::string(held[0].size(), 'u'),
		      "frame object corrupted during unwinding");
	}
};

[[noreturn]] __attribute__((noinline)) void throw_string(int d,
							  uint64_t seed,
							  size_t len)
{
	Unwinder u(d);
	if (d > 0)
		throw_string(d - 1, seed, len);
	throw pattern_string(seed, len);
}

struct Payload {
	uint64_t seed;
	std::vector<unsigned char> bytes;
	Payload(uint64_t s, size_t n) : seed(s), bytes(n)
	{
		for (size_t i = 0; i < n; i++)
			bytes[i] = (unsigned char)((s >> (i % 8)) + i);
	}
	bool intact() const
	{
		for (size_t i = 0; i < bytes.size(); i++)
			if (bytes[i] != (unsigned char)((seed >> (i % 8)) + i))
				return false;
		return true;
	}
};

[[noreturn]] __attribute__((noinline)) void throw_payload(int d,
							   uint64_t seed)
{
	Unwinder u(d);
	if (d > 0)
		throw_payload(d - 1, seed);
	throw std::make_unique<Payload>(seed, 100 + seed % 20000);
}

[[noreturn]] __attribute__((noinline)) void throw_nested(int d, uint64_t seed)
{
	try {
		if (d == 0)
			throw std::runtime_error(pattern_string(seed, 300));
		throw_nested(d - 1, seed + 1);
	} catch (...) {
		std::throw_with_nested(
			std::runtime_error(pattern_string(seed, 100 + d)));
	}
}

// Unwraps a nested chain; returns its depth after checking each level.
int check_nested(const std::exception &e, uint64_t seed, int d)
{
	size_t want = d < 0 ? 300 : (size_t)(100 + d);
	CHECK(e.what() == pattern_string(seed, want),
	      "nested exception message corrupted at level %d", d);
	try {
		std::rethrow_if_nested(e);
	} catch (const std::exception &inner) {
		// Level 0 wraps the innermost error, made with its seed.
		return 1 + (d == 0 ? check_nested(inner, seed, -1)
				   : check_nested(inner, seed + 1, d - 1));
	}
	return 1;
}

void one_round(int round, uint64_t &rng)
{
	uint64_t seed = next(rng);
	size_t len = 32 + seed % 5000;
	try {
		throw_string(DEPTH, seed, len);
	} catch (const std::string &s) {
		cycles_and_churn(rng);
		CHECK(s == pattern_string(seed, len),
		      "thrown std::string corrupted (round %d)", round);
	}

	seed = next(rng);
	try {
		throw_payload(DEPTH, seed);
	} catch (std::unique_ptr<Payload> &p) {
		cycles_and_churn(rng);
		CHECK(p && p->seed == seed && p->intact(),
		      "thrown unique_ptr<Payload> corrupted (round %d)", round);
	}

	seed = next(rng);
	try {
		try {
			throw std::runtime_error(pattern_string(seed, 2000));
		} catch (...) {
			// Handled here, rethrown from here: while this
			// handler runs, the only reference is the runtime's.
			cycles_and_churn(rng);
			throw;
		}
	} catch (const std::runtime_error &e) {
		cycles_and_churn(rng);
		CHECK(e.what() == pattern_string(seed, 2000),
		      "rethrown runtime_error corrupted (round %d)", round);
	}

	seed = next(rng);
	int levels = 4 + round % 5;
	try {
		throw_nested(levels, seed);
	} catch (const std::exception &e) {
		cycles_and_churn(rng);
		CHECK(check_nested(e, seed, levels) == levels + 2,
		      "nested chain has the wrong depth (round %d)", round);
	}
}

// Exceptions kept only through exception_ptr.
void stash(uint64_t &rng)
{
	std::vector<std::exception_ptr> kept;
	std::vector<uint64_t> seeds;
	for (int i = 0; i < 200; i++) {
		uint64_t seed = next(rng);
		seeds.push_back(seed);
		try {
			if (i % 2)
				throw std::runtime_error(pattern_string(seed, 50 + i));
			throw pattern_string(seed, 50 + i);
		} catch (...) {
			kept.push_back(std::current_exception());
		}
	}
	cycles_and_churn(rng);
	cycles_and_churn(rng);
	for (int i = 0; i < 200; i++) {
		try {
			std::rethrow_exception(kept[i]);
		} catch (const std::runtime_error &e) {
			CHECK(e.what() == pattern_string(seeds[i], 50 + i),
			      "stashed runtime_error %d corrupted", i);
		} catch (const std::string &s) {
			CHECK(s == pattern_string(seeds[i], 50 + i),
			      "stashed string %d corrupted", i);
		}
	}
}

// Exceptions made in one thread, handled in another.
void across_threads()
{
	std::vector<std::future<int>> futures;
	std::vector<std::thread> threads;
	for (int t = 0; t < 4; t++) {
		std::promise<int> p;
		futures.push_back(p.get_future());
		threads.emplace_back([t](std::promise<int> pr) {
			uint64_t rng = 900 + t;
			for (int r = 0; r < ROUNDS / 4; r++)
				one_round(r, rng);
			try {
				throw_payload(DEPTH, 31 + t);
			} catch (...) {
				pr.set_exception(std::current_exception());
			}
		}, std::move(p));
	}
	uint64_t rng = 1;
	cycles_and_churn(rng);
	for (int t = 0; t < 4; t++) {
		try {
			futures[t].get();
			CHECK(false, "future %d did not throw", t);
		} catch (std::unique_ptr<Payload> &p) {
			cycles_and_churn(rng);
			CHECK(p && p->seed == (uint64_t)(31 + t) && p->intact(),
			      "payload thrown in thread %d corrupted", t);
		}
	}
	for (auto &th : threads)
		th.join();
}

} // namespace

int main()
{
	collect = (void (*)(void))dlsym(RTLD_DEFAULT, "pacegc_collect");
	uint64_t rng = 42;
	for (int round = 0; round < ROUNDS; round++)
		one_round(round, rng);
	std::printf("exceptions: %d rounds of string, unique_ptr, rethrown and "
		    "nested exceptions through %d frames ok\n", ROUNDS, DEPTH);
	stash(rng);
	std::printf("exceptions: 200 exceptions kept in exception_ptr ok\n");
	across_threads();
	std::printf("exceptions: exceptions passed between 4 threads ok\n");
	return 0;
}
