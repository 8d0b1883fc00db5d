/*
 * flb_opamp_abi.h - the slice of Fluent Bit's external-plugin ("proxy") ABI
 * that the opamp input plugin uses, described in our own words.
 *
 * This ABI is the one Fluent Bit's Go proxy loader speaks. Between 2.2 and
 * 5.1 it only ever grew at the end of each struct, so a plugin that reads
 * and writes only the leading fields works with every host in that range.
 * The comments note which fields an older host lacks: never touch those.
 *
 * bindgen turns this header into src/ffi/bindings.rs (committed); the C test
 * host in tests/host includes it too, so both sides agree on one layout.
 */
#ifndef FLB_OPAMP_ABI_H
#define FLB_OPAMP_ABI_H

#include <stddef.h>

/* Values for flb_proxy_def.type */
#define FLB_OPAMP_PROXY_INPUT_PLUGIN 1
/* Value for flb_proxy_def.proxy: the only proxy kind Fluent Bit knows. */
#define FLB_OPAMP_PROXY_GOLANG 11

/* Fluent Bit log levels as passed to log_print and input_log_check. */
#define FLB_OPAMP_LOG_OFF 0
#define FLB_OPAMP_LOG_ERROR 1
#define FLB_OPAMP_LOG_WARN 2
#define FLB_OPAMP_LOG_INFO 3
#define FLB_OPAMP_LOG_DEBUG 4
#define FLB_OPAMP_LOG_TRACE 5

/*
 * The registration definition the host hands to FLBPluginRegister.
 * Every host from 2.2 on has the first five fields (32 bytes on LP64).
 * 3.2.x allocates exactly that much and does not zero it, so `flags`
 * must be written. 5.x appends event_type and config_map, which we leave
 * alone: writing them would overrun a 3.2.x allocation.
 */
struct flb_proxy_def {
    int type;
    int proxy;
    int flags;
    char *name;        /* copied by the host */
    char *description; /* kept by the host: must point at static storage */
};

/* Opaque host objects: we only ever pass their pointers back. */
struct flb_input_instance;
struct flb_output_instance;

/* printf-style logger; it does not filter by level on its own. */
typedef void (*flb_log_print_fn)(int level, const char *file, int line,
                                 const char *fmt, ...);

/*
 * The host's function table. Append-only: these seven entries are in the
 * same order in 3.2 and 5.1; 5.x appends custom-plugin entries after them,
 * which an input plugin never needs.
 */
struct flb_api {
    const char *(*output_get_property)(const char *key,
                                       struct flb_output_instance *ins);
    const char *(*input_get_property)(const char *key,
                                      struct flb_input_instance *ins);
    void *(*output_get_cmt_instance)(struct flb_output_instance *ins);
    void *(*input_get_cmt_instance)(struct flb_input_instance *ins);
    flb_log_print_fn log_print;
    int (*input_log_check)(struct flb_input_instance *ins, int level);
    int (*output_log_check)(struct flb_output_instance *ins, int level);
};

/*
 * What FLBPluginInit receives for an input plugin. Only the first three
 * pointers are used: `context` changed layout in 4.1 and the callback
 * slots after it are the host's own business.
 */
struct flb_input_plugin_head {
    char *name;
    struct flb_api *api;
    struct flb_input_instance *i_ins;
    void *context;
};

/* The symbols the plugin exports; the host looks each up with dlsym. */
int FLBPluginPreRegister(int hot_reloading);
int FLBPluginRegister(struct flb_proxy_def *def);
int FLBPluginInit(struct flb_input_plugin_head *plugin);
int FLBPluginInputPreRun(int enable_hot_reload);
int FLBPluginInputCallback(void **data, size_t *len);
int FLBPluginInputCleanupCallback(void *data);
void FLBPluginInputPause(void);
void FLBPluginInputResume(void);
void FLBPluginInputPreExit(int shutdown_by_hot_reloading);
int FLBPluginExit(void);
void FLBPluginUnregister(struct flb_proxy_def *def);

#endif /* FLB_OPAMP_ABI_H */
