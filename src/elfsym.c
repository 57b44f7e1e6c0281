/* Function names from ELF symbol tables: see elfsym.h. */
#include "elfsym.h"

#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "os.h"

bool elfsym_open(elfsym_file_t *f, const char *path) {
  f->base = NULL;
  f->size = 0;
  if (!os_may_open()) return false;
  int fd = os_open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  long r = os_syscall2(SYS_fstat, fd, &st);
  void *p = MAP_FAILED;
  if (r == 0 && st.st_size >= (off_t)sizeof(Elf64_Ehdr) && S_ISREG(st.st_mode))
    p = (void *)os_syscall6(SYS_mmap, 0, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  os_close(fd);
  if ((uintptr_t)p >= (uintptr_t)-4095) return false;
  const Elf64_Ehdr *eh = p;
  if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64) {
    os_syscall2(SYS_munmap, p, st.st_size);
    return false;
  }
  f->base = p;
  f->size = (size_t)st.st_size;
  return true;
}

void elfsym_close(elfsym_file_t *f) {
  if (f->base) os_syscall2(SYS_munmap, f->base, f->size);
  f->base = NULL;
}

/* A table of count entries of `each` bytes at file offset off, or NULL if
 * it does not lie inside the file. */
static const void *table(const elfsym_file_t *f, uint64_t off, uint64_t count, uint64_t each) {
  if (off > f->size || count > (f->size - off) / (each ? each : 1)) return NULL;
  return f->base + off;
}

/* The difference from a run-time address to a link-time one, for the
 * mapping at lo of file offset `offset`: the loadable segment holding
 * that offset says where it was linked. */
static bool link_delta(const elfsym_file_t *f, uintptr_t lo, uintptr_t offset, uintptr_t *delta) {
  const Elf64_Ehdr *eh = (const void *)f->base;
  const Elf64_Phdr *ph = table(f, eh->e_phoff, eh->e_phnum, sizeof *ph);
  if (ph == NULL || eh->e_phentsize != sizeof *ph) return false;
  for (int i = 0; i < eh->e_phnum; i++) {
    if (ph[i].p_type != PT_LOAD) continue;
    if (offset < ph[i].p_offset || offset - ph[i].p_offset >= ph[i].p_filesz) continue;
    *delta = ph[i].p_vaddr - ph[i].p_offset + offset - lo;
    return true;
  }
  return false;
}

bool elfsym_build_id(const elfsym_file_t *f, char *out) {
  if (f->base == NULL) return false;
  const Elf64_Ehdr *eh = (const void *)f->base;
  const Elf64_Phdr *ph = table(f, eh->e_phoff, eh->e_phnum, sizeof *ph);
  if (ph == NULL || eh->e_phentsize != sizeof *ph) return false;
  for (int i = 0; i < eh->e_phnum; i++) {
    if (ph[i].p_type != PT_NOTE) continue;
    const uint8_t *p = table(f, ph[i].p_offset, ph[i].p_filesz, 1);
    if (p == NULL) continue;
    for (uint64_t at = 0; at + sizeof(Elf64_Nhdr) <= ph[i].p_filesz;) {
      const Elf64_Nhdr *nh = (const void *)(p + at);
      uint64_t name = at + sizeof *nh, desc = name + align_up(nh->n_namesz, 4),
               next = desc + align_up(nh->n_descsz, 4);
      if (next > ph[i].p_filesz || next <= at) break;
      if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
          memcmp(p + name, "GNU", 4) == 0 && nh->n_descsz > 0 &&
          2 * nh->n_descsz < ELFSYM_BUILD_ID_MAX) {
        for (uint32_t k = 0; k < nh->n_descsz; k++) {
          out[2 * k] = "0123456789abcdef"[p[desc + k] >> 4];
          out[2 * k + 1] = "0123456789abcdef"[p[desc + k] & 15];
        }
        out[2 * nh->n_descsz] = 0;
        return true;
      }
      at = next;
    }
  }
  return false;
}

/* The first index whose pc is at least a. */
static size_t lower_bound(const uintptr_t *pcs, size_t n, uintptr_t a) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (pcs[mid] < a) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static void name_from(const elfsym_file_t *f, const Elf64_Shdr *sh, const Elf64_Shdr *strs,
                      uintptr_t delta, const uintptr_t *pcs, size_t n, const char **names) {
  const Elf64_Sym *sym = table(f, sh->sh_offset, sh->sh_size / sizeof *sym, sizeof *sym);
  const char *str = table(f, strs->sh_offset, strs->sh_size, 1);
  if (sym == NULL || str == NULL || strs->sh_size == 0) return;
  size_t nsym = sh->sh_size / sizeof *sym;
  for (size_t s = 0; s < nsym; s++) {
    unsigned type = ELF64_ST_TYPE(sym[s].st_info);
    if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym[s].st_shndx == SHN_UNDEF ||
        sym[s].st_size == 0 || sym[s].st_name >= strs->sh_size)
      continue;
    if (memchr(str + sym[s].st_name, 0, strs->sh_size - sym[s].st_name) == NULL) continue;
    uintptr_t lo = sym[s].st_value - delta, hi = lo + sym[s].st_size;
    for (size_t i = lower_bound(pcs, n, lo); i < n && pcs[i] < hi; i++)
      if (names[i] == NULL) names[i] = str + sym[s].st_name;
  }
}

void elfsym_name(const elfsym_file_t *f, uintptr_t lo, uintptr_t offset,
                 const uintptr_t *pcs, size_t n, const char **names) {
  uintptr_t delta;
  if (f->base == NULL || !link_delta(f, lo, offset, &delta)) return;
  const Elf64_Ehdr *eh = (const void *)f->base;
  const Elf64_Shdr *sh = table(f, eh->e_shoff, eh->e_shnum, sizeof *sh);
  if (sh == NULL || eh->e_shentsize != sizeof *sh) return;
  for (uint32_t want = SHT_SYMTAB;; want = SHT_DYNSYM) {
    for (int i = 0; i < eh->e_shnum; i++)
      if (sh[i].sh_type == want && sh[i].sh_link < eh->e_shnum)
        name_from(f, &sh[i], &sh[sh[i].sh_link], delta, pcs, n, names);
    if (want == SHT_DYNSYM) break;
  }
}
