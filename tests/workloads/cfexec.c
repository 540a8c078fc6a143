/* cfexec: a program that exits at once; cfwork's x: operation execs it so that exec
 * tracepoints (sched:sched_process_exec, __data_loc filename) see a known path and comm. */
int main(void) { return 0; }
