/*
 * proxy_host.c - a stand-in for Fluent Bit's external-plugin proxy loader.
 *
 * It loads a plugin .so and drives it with the call order, threads and data
 * that real Fluent Bit 3.2 and 5.1 use (as measured on real builds, and
 * src/flb_plugin_proxy.c / src/proxy/go/go.c / src/flb_reload.c upstream;
 * tests/call_order.rs keeps this host equal to them):
 *
 *   startup   main: PreRegister(0), Register(def)   input thread: Init, PreRun, callback every interval
 *   reload    main: PreRegister(1), Register(new)   old thread: Pause, Pause, PreExit(1), Exit
 *             main: Unregister(old)                 new thread: Init (all-new pointers), PreRun
 *   halted    main: PreRegister(1), Register(new), Unregister(new); old instance keeps running
 *   aborted   as reload up to the new Init, then main: Unregister(new), exit(255)
 *   dry-run   main: PreRegister(0), Register, Unregister
 *   shutdown  input thread: Pause, Pause, PreExit(flag), Exit; main: Unregister
 *
 * The collector follows flb_proxy_input_cb_collect and go.c's
 * proxy_go_input_collect/proxy_go_input_cleanup: a zero length means no
 * records and no cleanup; a -1 return means no cleanup either (a buffer
 * returned then leaks, which this host reports as a FAIL); otherwise the
 * records are copied (printed as "host: records" hex) and the buffer is
 * released by the plugin's cleanup: 3.2 (and 2.2) call
 * FLBPluginInputCleanupCallback, 5.x (and 4.x) prefer
 * FLBPluginInputCleanupCallbackCtx, and all fall back to libc free() when
 * the plugin exports none (--host-frees emulates a host that does so).
 *
 * The PreExit flag is the host's shutdown_by_hot_reloading: 1 during a
 * reload, cleared by a successful one, left at 1 by a halted one, as on
 * real Fluent Bit (tests/call_order.rs compares the two). SIGHUP triggers a reload
 * and is dropped while another reload runs. The --abi option picks the
 * struct sizes of 3.2 (32-byte definition, not zeroed; 7-entry API table)
 * or 5.x (zeroed 48-byte definition; 9-entry table).
 *
 * It prints machine-readable "host:" lines that tests parse.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "flb_opamp_abi.h"

#define MAX_PROPS 64
#define CANARY 0xA5

/* ---------- configuration given on the command line ---------- */
static const char *g_plugin;
static const char *g_config;
static const char *g_log_path;
static const char *g_scenario = "reload";
static int g_abi = 51;
static int g_reloads = 3;
static int g_interval_ms = 1000;
static int g_steady_ms = 1500;
static int g_hot_reload = 1;
static int g_host_frees;
/* The sighup scenario's stand-in for Fluent Bit reading the new config: a
 * file containing "halt-me" is refused (HALTED), one containing "abort-me"
 * fails in init (ABORTED), anything else reloads. */
static const char *g_verdict_file;
static FILE *g_log;
static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---------- timing ---------- */
struct cb_stat { const char *name; long calls; double max_us; };
static struct cb_stat g_stats[] = {
    {"PreRegister", 0, 0}, {"Register", 0, 0}, {"Init", 0, 0}, {"PreRun", 0, 0},
    {"InputCallback", 0, 0}, {"Pause", 0, 0}, {"PreExit", 0, 0}, {"Exit", 0, 0},
    {"Unregister", 0, 0}, {"FinalUnregister", 0, 0},
};
static pthread_mutex_t g_stat_lock = PTHREAD_MUTEX_INITIALIZER;

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void record(const char *name, double us)
{
    pthread_mutex_lock(&g_stat_lock);
    for (size_t i = 0; i < sizeof(g_stats) / sizeof(g_stats[0]); i++) {
        if (strcmp(g_stats[i].name, name) == 0) {
            g_stats[i].calls++;
            if (us > g_stats[i].max_us) g_stats[i].max_us = us;
        }
    }
    pthread_mutex_unlock(&g_stat_lock);
}

#define TIMED(name, call) do { double t0_ = now_us(); call; record(name, now_us() - t0_); } while (0)

/* ---------- the host's view of one input instance ---------- */
struct host_instance {
    char *keys[MAX_PROPS];
    char *values[MAX_PROPS];
    int nprops;
    int log_level;
};

/* Keys Fluent Bit's flb_input_set_property consumes itself; the proxy's
 * input_get_property never sees them. */
static int host_consumes(const char *k)
{
    static const char *consumed[] = {
        "tag", "log_level", "log_suppress_interval", "routable", "alias",
        "mem_buf_limit", "listen", "host", "port", "ipv6", "tls", "tls.verify",
        "tls.verify_client_cert", "tls.verify_hostname", "tls.debug", "tls.vhost",
        "tls.ca_path", "tls.ca_file", "tls.crt_file", "tls.key_file",
        "tls.key_passwd", "tls.min_version", "tls.max_version", "tls.ciphers",
        "storage.type", "threaded", "storage.pause_on_chunks_overlimit", NULL};
    if (strncasecmp(k, "net.", 4) == 0) return 1;
    for (int i = 0; consumed[i]; i++)
        if (strcasecmp(consumed[i], k) == 0) return 1;
    return 0;
}

static const char *h_input_get_property(const char *key, struct flb_input_instance *ins)
{
    struct host_instance *h = (struct host_instance *)ins;
    for (int i = 0; i < h->nprops; i++)
        if (strcasecmp(h->keys[i], key) == 0 && !host_consumes(key)) return h->values[i];
    return NULL;
}

static int h_input_log_check(struct flb_input_instance *ins, int level)
{
    return level <= ((struct host_instance *)ins)->log_level;
}

static const char *h_output_get_property(const char *key, struct flb_output_instance *ins)
{
    (void)key; (void)ins;
    fprintf(stderr, "host: FAIL plugin called output_get_property\n");
    return NULL;
}

static void *h_cmt(void *ins) { (void)ins; return NULL; }

static void h_log_print(int level, const char *file, int line, const char *fmt, ...)
{
    static const char *names[] = {"off", "error", "warn", "info", "debug", "trace"};
    char buf[4096];
    va_list ap;
    (void)file; (void)line;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&g_log_lock);
    fprintf(g_log, "[%s] [tid=%ld] %s\n", (level >= 0 && level <= 5) ? names[level] : "?",
            (long)gettid(), buf);
    fflush(g_log);
    pthread_mutex_unlock(&g_log_lock);
}

/* 5.x's table: 3.2's seven entries plus two custom-plugin ones. */
struct api_51 {
    struct flb_api base;
    void *custom_get_property;
    void *custom_log_check;
};

/* ---------- config reading: the [INPUT] Name opamp section ---------- */
static void trim(char *s)
{
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r')) *--e = 0;
    char *b = s;
    while (*b == ' ' || *b == '\t') b++;
    memmove(s, b, strlen(b) + 1);
}

static struct host_instance *load_instance(void)
{
    struct host_instance *h = calloc(1, sizeof(*h));
    h->log_level = FLB_OPAMP_LOG_INFO;
    if (!g_config) return h;
    FILE *f = fopen(g_config, "r");
    if (!f) { fprintf(stderr, "host: cannot open %s\n", g_config); exit(2); }
    char line[1024];
    int in_input = 0;
    struct host_instance tmp = {0};
    tmp.log_level = FLB_OPAMP_LOG_INFO;
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        trim(line);
        if (!line[0] || line[0] == '#' || line[0] == '@') continue;
        if (line[0] == '[') {
            if (in_input && !found) {
                for (int i = 0; i < tmp.nprops; i++)
                    if (strcasecmp(tmp.keys[i], "name") == 0 && strcasecmp(tmp.values[i], "opamp") == 0)
                        found = 1;
                if (found) { *h = tmp; }
                else { for (int i = 0; i < tmp.nprops; i++) { free(tmp.keys[i]); free(tmp.values[i]); } }
            }
            memset(&tmp, 0, sizeof tmp);
            tmp.log_level = FLB_OPAMP_LOG_INFO;
            in_input = strcasecmp(line, "[INPUT]") == 0;
            continue;
        }
        if (!in_input || tmp.nprops >= MAX_PROPS) continue;
        char *sp = line + strcspn(line, " \t");
        char *val = sp;
        if (*sp) { *sp = 0; val = sp + 1; trim(val); }
        if (strcasecmp(line, "log_level") == 0) {
            static const char *lv[] = {"off", "error", "warn", "info", "debug", "trace"};
            for (int i = 0; i < 6; i++) if (strcasecmp(val, lv[i]) == 0) tmp.log_level = i;
        }
        tmp.keys[tmp.nprops] = strdup(line);
        tmp.values[tmp.nprops] = strdup(val);
        tmp.nprops++;
    }
    if (in_input && !found) {
        for (int i = 0; i < tmp.nprops; i++)
            if (strcasecmp(tmp.keys[i], "name") == 0 && strcasecmp(tmp.values[i], "opamp") == 0) found = 1;
        if (found) *h = tmp;
    }
    fclose(f);
    return h;
}

static void free_instance(struct host_instance *h)
{
    for (int i = 0; i < h->nprops; i++) { free(h->keys[i]); free(h->values[i]); }
    free(h);
}

/* ---------- the plugin ---------- */
typedef int (*pre_register_fn)(int);
typedef int (*register_fn)(struct flb_proxy_def *);
typedef int (*init_fn)(void *);
typedef int (*pre_run_fn)(int);
typedef int (*collect_fn)(void **, size_t *);
typedef int (*cleanup_fn)(void *);
typedef int (*collect_ctx_fn)(void *, void **, size_t *);
typedef int (*cleanup_ctx_fn)(void *, void *);
typedef void (*void_fn)(void);
typedef void (*pre_exit_fn)(int);
typedef int (*exit_fn)(void);
typedef void (*unregister_fn)(struct flb_proxy_def *);

/* One registration: what flb_plugin_proxy_create + go.c's register build. */
struct registration {
    void *dso;
    struct flb_proxy_def *def;
    char *name;
    void *api;
    init_fn init;
    pre_run_fn pre_run;
    collect_fn collect;
    cleanup_fn cleanup;
    collect_ctx_fn collect_ctx; /* 4.x/5.x only */
    cleanup_ctx_fn cleanup_ctx; /* 4.x/5.x only */
    void_fn pause;
    void_fn resume;
    pre_exit_fn pre_exit;
    exit_fn exit_cb;
    unregister_fn unregister;
};

/* One running input instance and its thread. */
struct running {
    struct registration *reg;
    struct host_instance *ins;
    struct flb_input_plugin_head *head;
    pthread_t thread;
    volatile int stop;
    volatile int started; /* 1 = Init+PreRun done, -1 = Init failed */
    int pre_exit_flag;
    int skip_pre_run;
    volatile int abandon; /* process exiting: no Pause/PreExit/Exit */
};

static volatile sig_atomic_t g_sighup;
static volatile sig_atomic_t g_sigterm;
static int g_shutdown_by_hot_reloading;

static void on_sighup(int s) { (void)s; g_sighup = 1; }
static void on_sigterm(int s) { (void)s; g_sigterm = 1; }

static void *sym(struct registration *r, const char *name)
{
    dlerror();
    void *s = dlsym(r->dso, name);
    return dlerror() ? NULL : s;
}

static struct registration *proxy_create(int hot_reloading)
{
    struct registration *r = calloc(1, sizeof(*r));
    r->dso = dlopen(g_plugin, RTLD_LAZY);
    if (!r->dso) { fprintf(stderr, "host: dlopen failed: %s\n", dlerror()); exit(2); }

    if (g_abi == 32) {
        /* 3.2.x: a 32-byte def that is not zeroed (flags arrives as garbage),
         * so emulate that; bytes past 32 are a canary. */
        r->def = malloc(48);
        memset(r->def, CANARY, 48);
        r->api = calloc(1, sizeof(struct flb_api));
    } else {
        r->def = calloc(1, 48);
        r->api = calloc(1, sizeof(struct api_51));
    }
    struct flb_api *api = r->api;
    api->output_get_property = h_output_get_property;
    api->input_get_property = h_input_get_property;
    api->output_get_cmt_instance = (void *(*)(struct flb_output_instance *))h_cmt;
    api->input_get_cmt_instance = (void *(*)(struct flb_input_instance *))h_cmt;
    api->log_print = h_log_print;
    api->input_log_check = h_input_log_check;
    api->output_log_check = NULL;
    r->def->type = FLB_OPAMP_PROXY_INPUT_PLUGIN;

    pre_register_fn pre = (pre_register_fn)sym(r, "FLBPluginPreRegister");
    if (pre) {
        int ret;
        TIMED("PreRegister", ret = pre(hot_reloading));
        if (ret == -1) { fprintf(stderr, "host: PreRegister refused\n"); exit(3); }
    }
    register_fn reg = (register_fn)sym(r, "FLBPluginRegister");
    if (!reg) { fprintf(stderr, "host: no FLBPluginRegister\n"); exit(3); }
    int ret;
    TIMED("Register", ret = reg(r->def));
    if (ret == -1) { fprintf(stderr, "host: Register failed\n"); exit(3); }

    unsigned char *bytes = (unsigned char *)r->def;
    if (g_abi == 32) {
        for (int i = 32; i < 48; i++)
            if (bytes[i] != CANARY) { printf("host: FAIL plugin wrote past the 3.2 definition (byte %d)\n", i); exit(4); }
    }
    if (r->def->type != FLB_OPAMP_PROXY_INPUT_PLUGIN || r->def->proxy != FLB_OPAMP_PROXY_GOLANG ||
        r->def->flags != 0 || !r->def->name || !r->def->description) {
        printf("host: FAIL bad registration type=%d proxy=%d flags=%d\n", r->def->type, r->def->proxy, r->def->flags);
        exit(4);
    }
    r->name = strdup(r->def->name); /* the host copies name, keeps description */
    r->init = (init_fn)sym(r, "FLBPluginInit");
    if (!r->init) { fprintf(stderr, "host: no FLBPluginInit\n"); exit(3); }
    r->pre_run = (pre_run_fn)sym(r, "FLBPluginInputPreRun");
    r->collect = (collect_fn)sym(r, "FLBPluginInputCallback");
    r->cleanup = (cleanup_fn)sym(r, "FLBPluginInputCleanupCallback");
    if (g_abi != 32) {
        r->collect_ctx = (collect_ctx_fn)sym(r, "FLBPluginInputCallbackCtx");
        r->cleanup_ctx = (cleanup_ctx_fn)sym(r, "FLBPluginInputCleanupCallbackCtx");
    }
    if (g_host_frees) { r->cleanup = NULL; r->cleanup_ctx = NULL; }
    r->pause = (void_fn)sym(r, "FLBPluginInputPause");
    r->resume = (void_fn)sym(r, "FLBPluginInputResume");
    r->pre_exit = (pre_exit_fn)sym(r, "FLBPluginInputPreExit");
    r->exit_cb = (exit_fn)sym(r, "FLBPluginExit");
    r->unregister = (unregister_fn)sym(r, "FLBPluginUnregister");
    printf("host: registered %s (%s)\n", r->name, r->def->description);
    return r;
}

static void proxy_destroy(struct registration *r, const char *stat)
{
    if (r->unregister) TIMED(stat, r->unregister(r->def));
    free(r->name);
    free(r->def);
    free(r->api);
    dlclose(r->dso);
    free(r);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {}
}

static void print_records(const unsigned char *data, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    char *line = malloc(len * 2 + 1);
    for (size_t i = 0; i < len; i++) {
        line[2 * i] = hex[data[i] >> 4];
        line[2 * i + 1] = hex[data[i] & 15];
    }
    line[2 * len] = 0;
    printf("host: records len=%zu hex=%s\n", len, line);
    free(line);
}

/* One collector tick, as flb_proxy_input_cb_collect runs it. */
static void collect_once(struct registration *r, struct running *run)
{
    int ret;
    void *data = NULL;
    size_t len = 0;
    void *remote_context = run->head->context;
    if (r->collect_ctx) TIMED("InputCallback", ret = r->collect_ctx(remote_context, &data, &len));
    else TIMED("InputCallback", ret = r->collect(&data, &len));
    if (len == 0) {
        if (data) printf("host: FAIL buffer returned with length 0 (Fluent Bit leaks it)\n");
        return;
    }
    if (ret == -1) {
        printf("host: FAIL buffer returned with -1 (Fluent Bit leaks it)\n");
        return;
    }
    /* flb_input_log_append copies the records into a chunk. */
    print_records(data, len);
    if (r->cleanup_ctx) { r->cleanup_ctx(remote_context, data); printf("host: freed by cleanup_ctx\n"); }
    else if (r->cleanup) { r->cleanup(data); printf("host: freed by cleanup\n"); }
    else { free(data); printf("host: freed by host free()\n"); }
}

/* The input thread: Init, PreRun, then the 1 s collector until stopped. */
static void *input_thread(void *arg)
{
    struct running *run = arg;
    struct registration *r = run->reg;
    int ret;
    TIMED("Init", ret = r->init(run->head));
    if (ret <= 0) { printf("host: FAIL Init returned %d\n", ret); run->started = -1; return NULL; }
    if (!run->skip_pre_run && r->pre_run) TIMED("PreRun", r->pre_run(g_hot_reload));
    run->started = 1;
    while (!run->stop) {
        for (int waited = 0; waited < g_interval_ms && !run->stop; waited += 5) sleep_ms(5);
        if (run->stop || !r->collect) break;
        collect_once(r, run);
    }
    if (run->abandon) return NULL;
    /* flb_input_instance_exit: pause twice (engine + thread), then exit. */
    if (r->pause) { TIMED("Pause", r->pause()); TIMED("Pause", r->pause()); }
    if (r->pre_exit) TIMED("PreExit", r->pre_exit(run->pre_exit_flag));
    if (r->exit_cb) TIMED("Exit", r->exit_cb());
    return NULL;
}

static struct running *start_instance(struct registration *r, int skip_pre_run)
{
    struct running *run = calloc(1, sizeof(*run));
    run->reg = r;
    run->ins = load_instance();
    run->head = calloc(1, sizeof(struct flb_input_plugin_head) + 64); /* callbacks follow */
    run->head->name = r->name;
    run->head->api = r->api;
    run->head->i_ins = (struct flb_input_instance *)run->ins;
    run->head->context = NULL;
    run->skip_pre_run = skip_pre_run;
    pthread_create(&run->thread, NULL, input_thread, run);
    while (run->started == 0) sleep_ms(1);
    if (run->started < 0) exit(5);
    return run;
}

static void stop_instance(struct running *run)
{
    run->pre_exit_flag = g_shutdown_by_hot_reloading;
    run->stop = 1;
    pthread_join(run->thread, NULL);
    free_instance(run->ins);
    free(run->head);
    free(run);
}

static void steady(int ms)
{
    for (int t = 0; t < ms && !g_sigterm; t += 5) sleep_ms(5);
}

/* flb_reload: new registration first, then the old instance goes, then the
 * new one starts on a new thread. */
static void reload(struct registration **reg, struct running **run)
{
    g_shutdown_by_hot_reloading = 1;
    struct registration *next = proxy_create(1);
    stop_instance(*run);
    proxy_destroy(*reg, "Unregister");
    *reg = next;
    *run = start_instance(next, 0);
    /* A successful reload clears the flag (measured: the next SIGTERM
     * reports PreExit(0)); only a halted reload leaves it set. */
    g_shutdown_by_hot_reloading = 0;
    printf("host: reload done\n");
}

static int file_contains(const char *path, const char *needle)
{
    char buf[65536];
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    return strstr(buf, needle) != NULL;
}

static void print_stats(void);

/* A reload whose new config passes validation but fails in init, in a
 * plugin after ours: the old instance exits, ours gets Init but no PreRun,
 * then only the final Unregister, and the process exits 255. */
static void aborted_reload(struct registration *reg, struct running *run)
{
    g_shutdown_by_hot_reloading = 1;
    struct registration *next = proxy_create(1);
    stop_instance(run);
    proxy_destroy(reg, "Unregister");
    run = start_instance(next, 1);
    run->abandon = 1;
    run->stop = 1;
    pthread_join(run->thread, NULL);
    printf("host: aborted reload, exiting 255\n");
    double t0 = now_us();
    proxy_destroy(next, "FinalUnregister");
    printf("host: shutdown_ms=%.1f\n", (now_us() - t0) / 1000.0);
    print_stats();
    fflush(NULL);
    _exit(255);
}

static void print_stats(void)
{
    for (size_t i = 0; i < sizeof(g_stats) / sizeof(g_stats[0]); i++)
        printf("host: stat %s calls=%ld max_us=%.0f\n", g_stats[i].name, g_stats[i].calls, g_stats[i].max_us);
}

static void usage(void)
{
    fprintf(stderr, "usage: proxy_host --plugin SO [-c CONF] [--scenario reload|halted|aborted|dry-run|sighup]\n"
                    "  [--abi 32|51] [--reloads N] [--interval-ms N] [--steady-ms N] [--log FILE] [--no-hot-reload]\n"
                    "  [--host-frees]  (free() collected buffers, as a host without the cleanup symbol)\n"
                    "  [--verdict-file F]  (sighup: F containing halt-me / abort-me halts / aborts the reload)\n");
    exit(2);
}

/* Invoked as the plugin's validator runs Fluent Bit (`BIN --dry-run -c F
 * ...`, when this host is installed under a name containing "fluent-bit"):
 * answer as Fluent Bit's dry run does, after HOST_DRY_RUN_MS of work. */
static int dry_run_child(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        /* The plugin list, as Fluent Bit prints it (headings in bold);
         * fluentbit_logs only with HOST_HELP_LOGS set, as in 5.x. */
        if (!strcmp(argv[i], "--help")) {
            printf("Usage: fluent-bit [OPTION]\n\n\033[1mInputs\033[0m\n"
                   "  fluentbit_metrics       Fluent Bit internal metrics\n");
            if (getenv("HOST_HELP_LOGS"))
                printf("  fluentbit_logs          Fluent Bit internal logs\n");
            printf("  dummy                   Generate dummy data\n\n"
                   "\033[1mOutputs\033[0m\n"
                   "  opentelemetry           OpenTelemetry\n\n");
            return 1;
        }
        if (!strcmp(argv[i], "--dry-run")) {
            const char *ms = getenv("HOST_DRY_RUN_MS");
            if (ms)
                sleep_ms(atoi(ms));
            printf("configuration test is successful\n");
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (dry_run_child(argc, argv))
        return 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--plugin") && v) { g_plugin = v; i++; }
        else if (!strcmp(a, "-c") && v) { g_config = v; i++; }
        else if (!strcmp(a, "--scenario") && v) { g_scenario = v; i++; }
        else if (!strcmp(a, "--abi") && v) { g_abi = atoi(v); i++; }
        else if (!strcmp(a, "--reloads") && v) { g_reloads = atoi(v); i++; }
        else if (!strcmp(a, "--interval-ms") && v) { g_interval_ms = atoi(v); i++; }
        else if (!strcmp(a, "--steady-ms") && v) { g_steady_ms = atoi(v); i++; }
        else if (!strcmp(a, "--log") && v) { g_log_path = v; i++; }
        else if (!strcmp(a, "--verdict-file") && v) { g_verdict_file = v; i++; }
        else if (!strcmp(a, "--no-hot-reload")) { g_hot_reload = 0; }
        else if (!strcmp(a, "--host-frees")) { g_host_frees = 1; }
        else usage();
    }
    if (!g_plugin) usage();
    g_log = g_log_path ? fopen(g_log_path, "a") : stderr;
    if (!g_log) { perror("log"); return 2; }
    setvbuf(stdout, NULL, _IOLBF, 0);

    struct sigaction sa = {0};
    sa.sa_handler = on_sigterm;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if (g_hot_reload) {
        sa.sa_handler = on_sighup;
        sigaction(SIGHUP, &sa, NULL);
    } else {
        /* Fluent Bit without hot reload ignores SIGHUP rather than dying. */
        signal(SIGHUP, SIG_IGN);
    }

    if (!strcmp(g_scenario, "dry-run")) {
        struct registration *r = proxy_create(0);
        proxy_destroy(r, "Unregister");
        print_stats();
        printf("host: dry-run ok\n");
        return 0;
    }

    struct registration *reg = proxy_create(0);
    struct running *run = start_instance(reg, 0);
    printf("host: started\n");
    steady(g_steady_ms);

    if (!strcmp(g_scenario, "reload")) {
        for (int i = 0; i < g_reloads && !g_sigterm; i++) {
            reload(&reg, &run);
            steady(g_steady_ms);
        }
    } else if (!strcmp(g_scenario, "halted")) {
        g_shutdown_by_hot_reloading = 1;
        struct registration *next = proxy_create(1);
        proxy_destroy(next, "Unregister");
        printf("host: halted reload\n");
        steady(g_steady_ms);
    } else if (!strcmp(g_scenario, "aborted")) {
        aborted_reload(reg, run);
    } else if (!strcmp(g_scenario, "sighup")) {
        /* Serve reload requests (SIGHUP, possibly from the plugin itself)
         * until SIGTERM; a SIGHUP during a reload is dropped, as in
         * Fluent Bit ("reloading in progress, aborting"). */
        while (!g_sigterm) {
            if (g_sighup) {
                g_sighup = 0;
                if (file_contains(g_verdict_file, "halt-me")) {
                    g_shutdown_by_hot_reloading = 1;
                    struct registration *next = proxy_create(1);
                    proxy_destroy(next, "Unregister");
                    printf("host: halted reload\n");
                } else if (file_contains(g_verdict_file, "abort-me")) {
                    aborted_reload(reg, run);
                } else {
                    reload(&reg, &run);
                }
                if (g_sighup) { g_sighup = 0; printf("host: reloading in progress, aborting.\n"); }
            }
            sleep_ms(5);
        }
    }

    /* SIGTERM path. */
    double t0 = now_us();
    stop_instance(run);
    proxy_destroy(reg, "FinalUnregister");
    printf("host: shutdown_ms=%.1f\n", (now_us() - t0) / 1000.0);
    print_stats();
    printf("host: exit ok\n");
    return 0;
}
