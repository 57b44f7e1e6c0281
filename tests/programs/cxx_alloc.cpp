// C++ allocation through the preloaded malloc: new/delete (scalar, array,
// sized, nothrow), aligned new for an alignas(64) struct and larger
// alignments, std::vector/map/unordered_map/string/shared_ptr/list/deque,
// exceptions (thrown objects are allocated by the runtime), and threads.
// Deterministic output; any check failing exits 1.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <new>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

// Keeps the compiler from eliding a new/delete pair.
template <class T> static T *escape(T *p)
{
	__asm__ volatile("" : "+r"(p) : : "memory");
	return p;
}

#define REQUIRE(c)                                                           \
	do {                                                                 \
		if (!(c)) {                                                  \
			std::fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__,   \
				     __LINE__, #c);                          \
			std::exit(1);                                        \
		}                                                            \
	} while (0)

struct alignas(64) Line {
	unsigned char bytes[64];
	std::uint64_t tag;
};

struct alignas(4096) Page {
	unsigned char bytes[4096];
};

struct Tracked {
	static int live;
	std::string name;
	std::vector<int> data;
	explicit Tracked(int i = 7) : name("tracked-" + std::to_string(i)), data(i % 50, i)
	{
		live++;
	}
	~Tracked() { live--; }
};
int Tracked::live = 0;

struct MyError : std::runtime_error {
	std::vector<std::string> context;
	explicit MyError(const std::string &m) : std::runtime_error(m)
	{
		for (int i = 0; i < 20; i++)
			context.push_back(m + "#" + std::to_string(i));
	}
};

static std::uint64_t checksum(const std::string &s)
{
	std::uint64_t h = 1469598103934665603ull;
	for (unsigned char c : s)
		h = (h ^ c) * 1099511628211ull;
	return h;
}

static void new_delete()
{
	for (int round = 0; round < 50; round++) {
		std::vector<int *> ints;
		for (int i = 0; i < 1000; i++)
			ints.push_back(new int(i));
		for (int i = 0; i < 1000; i++) {
			REQUIRE(*ints[i] == i);
			delete ints[i];
		}
		char *arr = escape(new char[100000 + round]);
		std::memset(arr, round, 100000 + round);
		REQUIRE(arr[99999] == (char)round);
		delete[] arr;
		Tracked *t = escape(new Tracked[37]);
		REQUIRE(Tracked::live == 37);
		delete[] t;
		REQUIRE(Tracked::live == 0);
		int *nt = escape(new (std::nothrow) int[10]);
		REQUIRE(nt != nullptr);
		delete[] nt;
		// Sized delete.
		double *d = escape(new double(1.5));
		::operator delete(d, sizeof(double));
	}
	// Failing allocation throws bad_alloc; nothrow gives nullptr.
	bool threw = false;
	try {
		volatile std::size_t huge = SIZE_MAX / 2;
		char *p = escape(new char[huge]);
		delete[] p;
	} catch (const std::bad_alloc &) {
		threw = true;
	}
	REQUIRE(threw);
	volatile std::size_t huge2 = SIZE_MAX / 4;
	char *np = escape(new (std::nothrow) char[huge2]);
	REQUIRE(np == nullptr);
	std::puts("new/delete: ok");
}

static void aligned_new()
{
	std::vector<Line *> lines;
	for (int i = 0; i < 2000; i++) {
		Line *l = escape(new Line);
		REQUIRE(reinterpret_cast<std::uintptr_t>(l) % 64 == 0);
		std::memset(l->bytes, i & 0xff, sizeof l->bytes);
		l->tag = i;
		lines.push_back(l);
	}
	for (int i = 0; i < 2000; i++) {
		REQUIRE(lines[i]->tag == (std::uint64_t)i);
		REQUIRE(lines[i]->bytes[63] == (unsigned char)(i & 0xff));
		delete lines[i];
	}
	Line *arr = escape(new Line[333]);
	REQUIRE(reinterpret_cast<std::uintptr_t>(arr) % 64 == 0);
	delete[] arr;
	std::vector<Line> vl(1000);
	REQUIRE(reinterpret_cast<std::uintptr_t>(vl.data()) % 64 == 0);
	for (int i = 0; i < 10; i++) {
		auto pg = std::make_unique<Page>();
		REQUIRE(reinterpret_cast<std::uintptr_t>(pg.get()) % 4096 == 0);
		pg->bytes[4095] = 1;
	}
	void *raw = escape(::operator new(1000, std::align_val_t(1 << 16)));
	REQUIRE(reinterpret_cast<std::uintptr_t>(raw) % (1 << 16) == 0);
	::operator delete(raw, std::align_val_t(1 << 16));
	std::puts("aligned new: ok");
}

static void containers()
{
	std::vector<std::string> v;
	for (int i = 0; i < 100000; i++)
		v.push_back("string number " + std::to_string(i * 7919 % 100003));
	std::sort(v.begin(), v.end());
	std::map<std::string, int> m;
	for (std::size_t i = 0; i < v.size(); i++)
		m[v[i].substr(0, 17)] += (int)i % 13;
	std::unordered_map<int, std::vector<std::string>> um;
	for (int i = 0; i < 50000; i++)
		um[i % 1000].push_back(v[i]);
	std::size_t total = 0;
	for (auto &kv : um)
		total += kv.second.size();
	std::list<std::string> l(v.begin(), v.begin() + 20000);
	l.sort(std::greater<std::string>());
	std::deque<int> dq;
	for (int i = 0; i < 200000; i++) {
		dq.push_back(i);
		if (i % 3 == 0)
			dq.pop_front();
	}
	std::string big;
	for (int i = 0; i < 20000; i++)
		big += v[i];
	std::ostringstream os;
	os << v.front() << '|' << v.back() << '|' << m.size() << '|' << total
	   << '|' << l.front() << '|' << dq.size() << '|' << big.size() << '|'
	   << checksum(big);
	std::printf("containers: %s\n", os.str().c_str());
	// Shrink and reuse.
	v.resize(10);
	v.shrink_to_fit();
	m.clear();
	um.clear();
	std::puts("containers freed: ok");
}

static void shared_ptrs()
{
	std::vector<std::shared_ptr<Tracked>> owners;
	for (int i = 0; i < 5000; i++)
		owners.push_back(std::make_shared<Tracked>(i));
	std::vector<std::weak_ptr<Tracked>> weak(owners.begin(), owners.end());
	std::vector<std::shared_ptr<Tracked>> copies(owners.begin(), owners.end());
	owners.clear();
	REQUIRE(Tracked::live == 5000);
	copies.erase(copies.begin(), copies.begin() + 2500);
	REQUIRE(Tracked::live == 2500);
	int expired = 0;
	for (auto &w : weak)
		expired += w.expired();
	REQUIRE(expired == 2500);
	copies.clear();
	REQUIRE(Tracked::live == 0);
	std::shared_ptr<Tracked> custom(new Tracked(3), [](Tracked *t) { delete t; });
	std::unique_ptr<int[]> ua(new int[1000]());
	REQUIRE(ua[999] == 0);
	std::puts("shared_ptr: ok");
}

static int thrower(int depth)
{
	std::vector<std::string> local(10, std::string(100, 'x'));
	if (depth == 0)
		throw MyError("depth reached");
	return thrower(depth - 1) + (int)local.size();
}

static void exceptions()
{
	int caught = 0;
	for (int i = 0; i < 2000; i++) {
		try {
			thrower(i % 30);
		} catch (const MyError &e) {
			REQUIRE(e.context.size() == 20);
			caught++;
		}
		try {
			std::vector<int> v(10);
			(void)v.at(100);
		} catch (const std::out_of_range &) {
			caught++;
		}
		try {
			throw std::string(200, 'e');
		} catch (const std::string &s) {
			caught += s.size() == 200;
		}
	}
	REQUIRE(Tracked::live == 0);
	std::printf("exceptions: %d caught\n", caught);
}

static void threads()
{
	std::vector<std::thread> ts;
	std::vector<std::uint64_t> sums(4);
	for (int t = 0; t < 4; t++)
		ts.emplace_back([t, &sums] {
			std::map<int, std::string> m;
			for (int i = 0; i < 30000; i++) {
				m[i * (t + 1) % 7001] = std::to_string(i);
				if (i % 5 == 0)
					m.erase(i % 7001);
			}
			std::uint64_t s = 0;
			for (auto &kv : m)
				s += kv.first * checksum(kv.second) % 1000;
			sums[t] = s;
		});
	for (auto &t : ts)
		t.join();
	std::printf("threads: %llu\n",
		    (unsigned long long)std::accumulate(sums.begin(), sums.end(),
							std::uint64_t(0)));
}

int main()
{
	new_delete();
	aligned_new();
	containers();
	shared_ptrs();
	exceptions();
	threads();
	std::puts("cxx: all ok");
	return 0;
}
