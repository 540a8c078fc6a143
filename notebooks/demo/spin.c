/* The profiling lab's demo: main -> outer -> middle -> leaf, with leaf spinning on the CPU.
   Built with -O0 -fno-omit-frame-pointer (gcc 12 drops the frame pointer of leaf functions
   at -O1 even when asked to keep it) so user stacks show every call. */
#include <stdio.h>
#include <unistd.h>

volatile unsigned long sink;

__attribute__((noinline)) void leaf(void) {
    for (unsigned long i = 0; i < 5000000; i++)
        sink += i;
}

__attribute__((noinline)) void middle(void) { leaf(); sink++; }

__attribute__((noinline)) void outer(void) { middle(); sink++; }

int main(void) {
    printf("spin: pid %d\n", getpid());
    fflush(stdout);
    for (;;) {
        outer();
        usleep(1000);
    }
}
