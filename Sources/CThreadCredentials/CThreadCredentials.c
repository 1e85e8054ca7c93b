#define _GNU_SOURCE
#include "CThreadCredentials.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_GROUPS 256

static uid_t target_uid;
static gid_t target_gid;
static gid_t target_groups[MAX_GROUPS];
static int target_group_count;
static volatile sig_atomic_t handler_failed;

/// Runs on the straggling thread: raw system calls change that thread alone, and are
/// async-signal-safe (glibc's wrappers are neither).
static void apply_credentials(int signal_number) {
    (void)signal_number;
    int saved = errno;
    if (syscall(SYS_setgroups, target_group_count, target_groups) != 0 ||
        syscall(SYS_setresgid, target_gid, target_gid, target_gid) != 0 ||
        syscall(SYS_setresuid, target_uid, target_uid, target_uid) != 0) {
        handler_failed = 1;
    }
    errno = saved;
}

/// Whether thread `tid`'s real, effective, saved and file-system uids and gids are the target's.
static int thread_matches(pid_t tid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)tid);
    FILE *file = fopen(path, "re");
    if (file == NULL) return 1;  // the thread ended
    char line[256];
    int uid_ok = 0, gid_ok = 0;
    while (fgets(line, sizeof line, file) != NULL) {
        unsigned a, b, c, d;
        if (sscanf(line, "Uid: %u %u %u %u", &a, &b, &c, &d) == 4) {
            uid_ok = a == target_uid && b == target_uid && c == target_uid && d == target_uid;
        } else if (sscanf(line, "Gid: %u %u %u %u", &a, &b, &c, &d) == 4) {
            gid_ok = a == target_gid && b == target_gid && c == target_gid && d == target_gid;
        }
    }
    fclose(file);
    return uid_ok && gid_ok;
}

int sealpost_align_thread_credentials(void) {
    uid_t ruid, euid, suid;
    gid_t rgid, egid, sgid;
    if (getresuid(&ruid, &euid, &suid) != 0 || getresgid(&rgid, &egid, &sgid) != 0) return -1;
    if (ruid != euid || euid != suid || rgid != egid || egid != sgid) {
        errno = EINVAL;
        return -1;
    }
    int count = getgroups(MAX_GROUPS, target_groups);
    if (count < 0) return -1;
    target_uid = euid;
    target_gid = egid;
    target_group_count = count;
    handler_failed = 0;

    int signal_number = SIGRTMIN + 7;
    struct sigaction action, previous;
    memset(&action, 0, sizeof action);
    action.sa_handler = apply_credentials;
    sigemptyset(&action.sa_mask);
    if (sigaction(signal_number, &action, &previous) != 0) return -1;

    int result = 0;
    DIR *tasks = opendir("/proc/self/task");
    if (tasks == NULL) {
        result = -1;
    } else {
        pid_t self = (pid_t)syscall(SYS_gettid);
        struct dirent *entry;
        while ((entry = readdir(tasks)) != NULL) {
            if (entry->d_name[0] == '.') continue;
            pid_t tid = (pid_t)atoi(entry->d_name);
            if (tid == self || thread_matches(tid)) continue;
            if (syscall(SYS_tgkill, getpid(), tid, signal_number) != 0 && errno != ESRCH) {
                result = -1;
                break;
            }
            // Wait up to two seconds for the thread to run its handler.
            int waited = 0;
            while (!thread_matches(tid) && !handler_failed && waited < 2000) {
                struct timespec pause = {0, 1000000};
                nanosleep(&pause, NULL);
                waited += 1;
            }
            if (handler_failed || !thread_matches(tid)) {
                errno = EPERM;
                result = -1;
                break;
            }
        }
        closedir(tasks);
    }
    sigaction(signal_number, &previous, NULL);
    return result;
}
