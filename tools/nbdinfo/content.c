/* The "content:" line: the first 8 KiB of the export go to a private
 * temporary file and file(1) describes them. */
#include "nbdinfo.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROBE_BYTES 8192

static char *
run_file_command (const char *path)
{
  int pipefd[2];
  pid_t pid;
  char *line = NULL;
  size_t cap = 0;
  FILE *fp;
  int status;

  if (pipe (pipefd) == -1)
    return NULL;
  pid = fork ();
  if (pid == -1) {
    close (pipefd[0]);
    close (pipefd[1]);
    return NULL;
  }
  if (pid == 0) {
    dup2 (pipefd[1], STDOUT_FILENO);
    close (pipefd[0]);
    close (pipefd[1]);
    execlp ("file", "file", "-b", path, (char *) NULL);
    _exit (127);
  }
  close (pipefd[1]);
  fp = fdopen (pipefd[0], "r");
  if (fp == NULL) {
    close (pipefd[0]);
    waitpid (pid, NULL, 0);
    return NULL;
  }
  if (getline (&line, &cap, fp) <= 0) {
    free (line);
    line = NULL;
  }
  /* Drain the rest so that file(1) never blocks on a full pipe. */
  while (getc (fp) != EOF)
    ;
  fclose (fp);
  if (waitpid (pid, &status, 0) == -1 || !WIFEXITED (status) ||
      WEXITSTATUS (status) != 0) {
    free (line);
    return NULL;
  }
  if (line)
    line[strcspn (line, "\n")] = '\0';
  return line;
}

char *
probe_content (struct nbd_handle *h, int64_t size)
{
  char path[] = "/tmp/nbdinfoXXXXXX";
  char buf[PROBE_BYTES];
  size_t n = size < PROBE_BYTES ? (size_t) size : PROBE_BYTES;
  char *answer = NULL;
  int fd;

  if (size < 0 || (n > 0 && nbd_pread (h, buf, n, 0, 0) == -1))
    return NULL;
  fd = mkstemp (path);
  if (fd == -1)
    return NULL;
  if (n == 0 || write (fd, buf, n) == (ssize_t) n)
    answer = run_file_command (path);
  close (fd);
  unlink (path);
  return answer;
}
