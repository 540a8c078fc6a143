/* cfwork: the conformance and benchmark workload.
 *
 * Runs a list of operations given on the command line, each making known system calls, so
 * that every tracer sees exactly the same events.  Its comm is "cfwork", or the name given
 * by a first N: operation (tracers filter on it).  After the last operation it sleeps a little (so printf events drain) and makes the
 * marker system call getppid(), on which the conformance programs call exit().
 *
 * Operations (one argv word each):
 *   N:NAME     set the comm to NAME (prctl), so that concurrent runs can be told apart
 *   r:N        read N bytes from /dev/zero (ret N)
 *   z:N        read N bytes from /dev/null (ret 0)
 *   e:N        read N bytes from a closed fd (ret -EBADF)
 *   w:N        write N bytes to /dev/null
 *   o:PATH     openat(AT_FDCWD, PATH, O_RDONLY) and close it when it opened
 *   P:N        getpid() N times
 *   G:N        getpgrp() N times
 *   s:MS       nanosleep MS milliseconds
 *   b:MS       busy-loop MS milliseconds (for profile / cpu-clock samples)
 *   f:N        touch N fresh pages (page faults)
 *   u:N        call cf_work(i, "item<i>") for i in 0..N-1 (uprobe target)
 *   x:PATH:A1,A2,...   fork, execve(PATH, [PATH's basename, A1, A2, ...]) in the child, wait
 *   n:N        loop N times over getpid() as fast as possible (benchmark load)
 *   q          skip the final settle sleep and marker
 *   Q          make the marker call now (for rate loops that continue afterwards)
 *   R:N:RATE   N write(2) calls of 8 bytes to /dev/null at RATE calls per second (0 = max)
 *   Z:N        N reads of 64 bytes from one /dev/zero fd (benchmark load)
 *   O:N        N openat("/dev/null") + close (benchmark load)
 *   K:N        getpgid(1000000 + i) for i in 0..N-1: N distinct syscall arguments (map fill)
 *   T:MS       forever: one read, openat, getpid and cf_work call every MS ms (a ticker that
 *              gives every benchmark probe a first event soon after it attaches)
 *   D          print CLOCK_MONOTONIC seconds on stderr (a timestamp for the benchmarks)
 *   W          block SIGUSR1, print "W" on stdout, wait for SIGUSR1 (so that a tracer can
 *              attach to this pid first)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char buf[1 << 20];

__attribute__((noinline)) long cf_work(long n, const char *s)
{
	/* the asm keeps the call from being folded away */
	__asm__ volatile("" ::: "memory");
	return n * 2 + (long)strlen(s);
}

__attribute__((noinline)) long cf_outer(long n)
{
	char item[32];
	snprintf(item, sizeof(item), "item%ld", n);
	return cf_work(n, item);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void do_exec(char *spec)
{
	char *path = spec, *args = strchr(spec, ':');
	char *argv[32];
	int argc = 0;
	if (args)
		*args++ = '\0';
	const char *base = strrchr(path, '/');
	argv[argc++] = (char *)(base ? base + 1 : path);
	while (args && *args && argc < 31) {
		argv[argc++] = args;
		char *comma = strchr(args, ',');
		if (!comma)
			break;
		*comma = '\0';
		args = comma + 1;
	}
	argv[argc] = NULL;
	pid_t child = fork();
	if (child == 0) {
		char *envp[] = { NULL };
		execve(path, argv, envp);
		_exit(127);
	}
	int status;
	waitpid(child, &status, 0);
}

static void rate_writes(long count, long rate)
{
	int fd = open("/dev/null", O_WRONLY);
	uint64_t start = now_ns();
	for (long i = 0; i < count; i++) {
		if (rate > 0) {
			uint64_t due = start + (uint64_t)(i * (1000000000.0 / rate));
			while (now_ns() < due)
				;
		}
		if (write(fd, buf, 8) < 0)
			break;
	}
	close(fd);
}

int main(int argc, char **argv)
{
	int settle = 1;
	for (int i = 1; i < argc; i++) {
		char op = argv[i][0];
		char *val = argv[i][1] == ':' ? argv[i] + 2 : argv[i] + 1;
		long n = strtol(val, NULL, 10);
		int fd;
		switch (op) {
		case 'N':
			prctl(PR_SET_NAME, val, 0, 0, 0);
			break;
		case 'r':
			fd = open("/dev/zero", O_RDONLY);
			if (read(fd, buf, n) < 0)
				perror("read");
			close(fd);
			break;
		case 'z':
			fd = open("/dev/null", O_RDONLY);
			if (read(fd, buf, n) < 0)
				perror("read");
			close(fd);
			break;
		case 'e':
			if (read(999, buf, n) >= 0)
				fprintf(stderr, "read on fd 999 succeeded\n");
			break;
		case 'w':
			fd = open("/dev/null", O_WRONLY);
			if (write(fd, buf, n) < 0)
				perror("write");
			close(fd);
			break;
		case 'o':
			fd = openat(AT_FDCWD, val, O_RDONLY);
			if (fd >= 0)
				close(fd);
			break;
		case 'P':
			for (long k = 0; k < n; k++)
				syscall(SYS_getpid);
			break;
		case 'G':
			for (long k = 0; k < n; k++)
				syscall(SYS_getpgrp);
			break;
		case 's':
			sleep_ms(n);
			break;
		case 'b': {
			uint64_t end = now_ns() + (uint64_t)n * 1000000ull;
			volatile uint64_t spin = 0;
			while (now_ns() < end)
				spin++;
			break;
		}
		case 'f': {
			long page = sysconf(_SC_PAGESIZE);
			char *mem = mmap(NULL, n * page, PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			for (long k = 0; k < n; k++)
				mem[k * page] = 1;
			munmap(mem, n * page);
			break;
		}
		case 'u':
			for (long k = 0; k < n; k++)
				cf_outer(k);
			break;
		case 'x':
			do_exec(val);
			break;
		case 'n':
			for (long k = 0; k < n; k++)
				syscall(SYS_getpid);
			break;
		case 'q':
			settle = 0;
			break;
		case 'Q':
			syscall(SYS_getppid);
			break;
		case 'Z':
			fd = open("/dev/zero", O_RDONLY);
			for (long k = 0; k < n; k++)
				if (read(fd, buf, 64) < 0)
					break;
			close(fd);
			break;
		case 'O':
			for (long k = 0; k < n; k++) {
				fd = openat(AT_FDCWD, "/dev/null", O_RDONLY);
				if (fd >= 0)
					close(fd);
			}
			break;
		case 'K':
			for (long k = 0; k < n; k++)
				syscall(SYS_getpgid, 1000000 + k);
			break;
		case 'T':
			fd = open("/dev/zero", O_RDONLY);
			for (long k = 0;; k++) {
				if (read(fd, buf, 64) < 0)
					break;
				int tmp = openat(AT_FDCWD, "/dev/null", O_RDONLY);
				if (tmp >= 0)
					close(tmp);
				syscall(SYS_getpid);
				cf_outer(k);
				sleep_ms(n);
			}
			break;
		case 'W': {
			sigset_t set;
			int sig;
			sigemptyset(&set);
			sigaddset(&set, SIGUSR1);
			sigprocmask(SIG_BLOCK, &set, NULL);
			if (write(1, "W\n", 2) != 2) /* tells the starter SIGUSR1 is blocked */
				return 3;
			sigwait(&set, &sig);
			break;
		}
		case 'D': {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			fprintf(stderr, "%ld.%09ld\n", (long)ts.tv_sec, ts.tv_nsec);
			break;
		}
		case 'R': {
			char *colon = strchr(val, ':');
			rate_writes(n, colon ? strtol(colon + 1, NULL, 10) : 0);
			break;
		}
		default:
			fprintf(stderr, "cfwork: unknown operation %s\n", argv[i]);
			return 2;
		}
	}
	if (settle) {
		sleep_ms(60);
		syscall(SYS_getppid);
	}
	return 0;
}
