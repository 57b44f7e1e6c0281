/*
 * exec and posix_spawn, wrapped so that the program's disposition and
 * mask of the stop signal cross them as the kernel would carry them
 * (DESIGN.md rule 7): a signal the program ignores stays ignored in the
 * new image, and one it blocks stays blocked.  pacegc keeps both for the
 * program (handlers.h) while the kernel holds pacegc's handler, which
 * exec resets to the default; so for the call itself the kernel is given
 * the program's view, and pacegc's own back if the call returns.  No stop
 * runs meanwhile (threads_exec_begin): one in that window fails and is
 * tried again later.  glibc's system() and popen() spawn without these
 * wrappers.
 */
#include <alloca.h>
#include <errno.h>
#include <spawn.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "handlers.h"
#include "os.h"
#include "threads.h"

extern char **environ;

static struct {
  __typeof__(execve) *execve;
  __typeof__(execvp) *execvp;
  __typeof__(execvpe) *execvpe;
  __typeof__(fexecve) *fexecve;
  __typeof__(posix_spawn) *posix_spawn;
  __typeof__(posix_spawnp) *posix_spawnp;
} libc;

/* What the kernel held before the program's view was put in place. */
typedef struct handover {
  int sig;
  bool swapped;
  struct sigaction ours;
  sigset_t mask;
} handover_t;

static void give_program_view(handover_t *h) {
  threads_exec_begin();
  h->sig = threads_suspend_signal();
  h->swapped = false;
  if (h->sig == 0) return;
  int saved = errno;
  struct sigaction prog;
  handlers_sigaction(h->sig, NULL, &prog);
  if (prog.sa_handler == SIG_IGN) {
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    h->swapped = os_sigaction(h->sig, &ign, &h->ours) == 0;
  }
  sigset_t set;
  sigemptyset(&set);
  if (thread_ctl.prog_blocked) sigaddset(&set, h->sig);
  os_sigmask(SIG_BLOCK, &set, &h->mask);
  errno = saved;
}

static void take_it_back(const handover_t *h) {
  if (h->sig != 0) {
    int saved = errno;
    if (h->swapped) os_sigaction(h->sig, &h->ours, NULL);
    os_sigmask(SIG_SETMASK, &h->mask, NULL);
    errno = saved;
  }
  threads_exec_end();
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[]) {
  if (LIBC(execve) == NULL) return errno = ENOSYS, -1;
  handover_t h;
  give_program_view(&h);
  int r = libc.execve(path, argv, envp);
  take_it_back(&h);
  return r;
}

EXPORT int execv(const char *path, char *const argv[]) { return execve(path, argv, environ); }

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[]) {
  if (LIBC(execvpe) == NULL) return errno = ENOSYS, -1;
  handover_t h;
  give_program_view(&h);
  int r = libc.execvpe(file, argv, envp);
  take_it_back(&h);
  return r;
}

EXPORT int execvp(const char *file, char *const argv[]) {
  if (LIBC(execvp) == NULL) return errno = ENOSYS, -1;
  handover_t h;
  give_program_view(&h);
  int r = libc.execvp(file, argv);
  take_it_back(&h);
  return r;
}

EXPORT int fexecve(int fd, char *const argv[], char *const envp[]) {
  if (LIBC(fexecve) == NULL) return errno = ENOSYS, -1;
  handover_t h;
  give_program_view(&h);
  int r = libc.fexecve(fd, argv, envp);
  take_it_back(&h);
  return r;
}

/* The execl family's arguments, up to the NULL, as an argv on the stack;
 * *envp gets what follows the NULL when `with_env`. */
#define ARGV_FROM_VA(arg0, argv, envp, with_env)                       \
  do {                                                                 \
    va_list ap_;                                                       \
    size_t n_ = 1;                                                     \
    va_start(ap_, arg0);                                               \
    while (va_arg(ap_, char *) != NULL) n_++;                          \
    va_end(ap_);                                                       \
    argv = alloca((n_ + 1) * sizeof(char *));                          \
    argv[0] = (char *)(arg0);                                          \
    va_start(ap_, arg0);                                               \
    for (size_t i_ = 1; i_ <= n_; i_++) argv[i_] = va_arg(ap_, char *); \
    if (with_env) envp = va_arg(ap_, char **);                         \
    va_end(ap_);                                                       \
  } while (0)

EXPORT int execl(const char *path, const char *arg0, ...) {
  char **argv, **envp = environ;
  ARGV_FROM_VA(arg0, argv, envp, false);
  return execve(path, argv, envp);
}

EXPORT int execle(const char *path, const char *arg0, ...) {
  char **argv, **envp = NULL;
  ARGV_FROM_VA(arg0, argv, envp, true);
  return execve(path, argv, envp);
}

EXPORT int execlp(const char *file, const char *arg0, ...) {
  char **argv, **envp = NULL;
  ARGV_FROM_VA(arg0, argv, envp, false);
  (void)envp;
  return execvp(file, argv);
}

EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                       const posix_spawnattr_t *attr, char *const argv[], char *const envp[]) {
  if (LIBC(posix_spawn) == NULL) return ENOSYS;
  handover_t h;
  give_program_view(&h);
  int r = libc.posix_spawn(pid, path, fa, attr, argv, envp);
  take_it_back(&h);
  return r;
}

EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                        const posix_spawnattr_t *attr, char *const argv[], char *const envp[]) {
  if (LIBC(posix_spawnp) == NULL) return ENOSYS;
  handover_t h;
  give_program_view(&h);
  int r = libc.posix_spawnp(pid, file, fa, attr, argv, envp);
  take_it_back(&h);
  return r;
}
