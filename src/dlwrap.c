/*
 * dlopen, wrapped for RTLD_DEEPBIND (issue 8, item 8).  A library loaded
 * with that flag looks symbols up in its own dependencies first, so its
 * malloc and free bind to glibc's while the program's bind to pacegc's:
 * memory crossing the boundary would reach the wrong free.  After such a
 * dlopen, every object it loaded is rebound: each relocation that binds
 * a symbol pacegc defines (the allocation family, C++'s new and delete,
 * the signal, descriptor and wait wrappers) is pointed at pacegc's
 * definition, as it would have been without the flag.  The library's
 * constructors ran before that, with glibc's allocator; what they
 * allocated glibc frees again (libcmalloc.h).
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "os.h"
#include "report.h"

#if defined(__x86_64__)
#define R_JUMP_SLOT R_X86_64_JUMP_SLOT
#define R_GLOB_DAT R_X86_64_GLOB_DAT
#elif defined(__aarch64__)
#define R_JUMP_SLOT R_AARCH64_JUMP_SLOT
#define R_GLOB_DAT R_AARCH64_GLOB_DAT
#endif

/* pacegc's own object: where its definitions are and a handle to find
 * them by name. */
static struct {
  void *handle;
  void *base;
} self;

static bool self_known(void) {
  if (self.handle != NULL) return true;
  Dl_info info;
  if (!dladdr((void *)self_known, &info) || info.dli_fname == NULL) return false;
  self.base = info.dli_fbase;
  self.handle = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
  return self.handle != NULL;
}

/* pacegc's definition of `name`, or NULL if pacegc has none (dlsym on
 * pacegc's handle also searches its dependencies: those do not count). */
static void *own_definition(const char *name) {
  void *p = dlsym(self.handle, name);
  Dl_info info;
  return p != NULL && dladdr(p, &info) && info.dli_fbase == self.base ? p : NULL;
}

/* A dynamic section's pointers, relocated or not (glibc adjusts them in
 * place on some architectures). */
static uintptr_t dyn_ptr(const struct dl_phdr_info *o, ElfW(Addr) v) {
  return v < o->dlpi_addr ? o->dlpi_addr + v : v;
}

/* The pages the loader made read-only after relocating (RELRO): its
 * whole pages only, as glibc's _dl_protect_relro does. */
static span_t relro_pages(const struct dl_phdr_info *o) {
  for (int i = 0; i < o->dlpi_phnum; i++)
    if (o->dlpi_phdr[i].p_type == PT_GNU_RELRO) {
      uintptr_t lo = o->dlpi_addr + o->dlpi_phdr[i].p_vaddr;
      return (span_t){ align_down(lo, PAGE_SIZE), align_down(lo + o->dlpi_phdr[i].p_memsz, PAGE_SIZE) };
    }
  return (span_t){0, 0};
}

/* Writes value at slot; a RELRO page is made writable for the write and
 * read-only again after. */
static void patch(uintptr_t slot, void *value, span_t relro) {
  if (slot < relro.lo || slot >= relro.hi) {
    __atomic_store_n((void **)slot, value, __ATOMIC_RELEASE);
    return;
  }
  uintptr_t page = align_down(slot, PAGE_SIZE);
  if (mprotect((void *)page, PAGE_SIZE, PROT_READ | PROT_WRITE) != 0) return;
  __atomic_store_n((void **)slot, value, __ATOMIC_RELEASE);
  (void)mprotect((void *)page, PAGE_SIZE, PROT_READ);
}

typedef struct tables {
  const ElfW(Sym) *symtab;
  const char *strtab;
  const ElfW(Rela) *rela, *jmprel;
  size_t relasz, jmprelsz;
  span_t relro;
} tables_t;

static void rebind_relocs(const struct dl_phdr_info *o, const tables_t *t, const ElfW(Rela) *r,
                          size_t bytes, size_t *count) {
  for (size_t i = 0; i < bytes / sizeof *r; i++) {
    unsigned type = (unsigned)ELF64_R_TYPE(r[i].r_info);
    size_t sym = ELF64_R_SYM(r[i].r_info);
    if ((type != R_JUMP_SLOT && type != R_GLOB_DAT) || sym == 0) continue;
    void *ours = own_definition(t->strtab + t->symtab[sym].st_name);
    if (ours == NULL) continue;
    uintptr_t slot = o->dlpi_addr + r[i].r_offset;
    if (*(void **)slot != ours) {
      patch(slot, ours, t->relro);
      (*count)++;
    }
  }
}

static size_t rebind_object(const struct dl_phdr_info *o) {
  const ElfW(Dyn) *dyn = NULL;
  for (int i = 0; i < o->dlpi_phnum; i++)
    if (o->dlpi_phdr[i].p_type == PT_DYNAMIC)
      dyn = (const ElfW(Dyn) *)(o->dlpi_addr + o->dlpi_phdr[i].p_vaddr);
  if (dyn == NULL) return 0;
  tables_t t = { .relro = relro_pages(o) };
  for (; dyn->d_tag != DT_NULL; dyn++) {
    switch (dyn->d_tag) {
    case DT_SYMTAB: t.symtab = (const ElfW(Sym) *)dyn_ptr(o, dyn->d_un.d_ptr); break;
    case DT_STRTAB: t.strtab = (const char *)dyn_ptr(o, dyn->d_un.d_ptr); break;
    case DT_RELA: t.rela = (const ElfW(Rela) *)dyn_ptr(o, dyn->d_un.d_ptr); break;
    case DT_RELASZ: t.relasz = dyn->d_un.d_val; break;
    case DT_JMPREL: t.jmprel = (const ElfW(Rela) *)dyn_ptr(o, dyn->d_un.d_ptr); break;
    case DT_PLTRELSZ: t.jmprelsz = dyn->d_un.d_val; break;
    default: break;
    }
  }
  if (t.symtab == NULL || t.strtab == NULL) return 0;
  size_t count = 0;
  if (t.rela) rebind_relocs(o, &t, t.rela, t.relasz, &count);
  if (t.jmprel) rebind_relocs(o, &t, t.jmprel, t.jmprelsz, &count);
  return count;
}

/* The objects loaded before, by base address; the rest are new. */
typedef struct loaded { uintptr_t *bases; size_t n, cap; bool after; size_t rebound; } loaded_t;

static int visit(struct dl_phdr_info *o, size_t size, void *arg) {
  (void)size;
  loaded_t *l = arg;
  if (!l->after) {
    if (l->n == l->cap) {
      size_t cap = l->cap ? 2 * l->cap : 64;
      uintptr_t *b = realloc(l->bases, cap * sizeof *b);
      if (b == NULL) return 1;
      l->bases = b;
      l->cap = cap;
    }
    l->bases[l->n++] = o->dlpi_addr;
    return 0;
  }
  for (size_t i = 0; i < l->n; i++)
    if (l->bases[i] == o->dlpi_addr) return 0;
  l->rebound += rebind_object(o);
  return 0;
}

EXPORT void *dlopen(const char *file, int mode) {
  OS_REAL(dlopen);
  if (real == NULL) return NULL;
  if (!(mode & RTLD_DEEPBIND) || !self_known()) return real(file, mode);
  loaded_t l = {0};
  dl_iterate_phdr(visit, &l);
  void *h = real(file, mode);
  if (h != NULL) {
    int saved = errno;
    l.after = true;
    dl_iterate_phdr(visit, &l);
    errno = saved;
  }
  free(l.bases);
  return h;
}
