/*
 * null_plugin.c - the benchmark's baseline proxy-ABI input plugin: it
 * registers as "opamp" and does nothing else. Loading it into the C host
 * (tests/host/proxy_host.c) gives the host's own memory and CPU, so the
 * difference to the real plugin is what the plugin adds.
 */
#include <stddef.h>

#include "flb_opamp_abi.h"

static char name[] = "opamp";
static char description[] = "benchmark baseline: does nothing";

int FLBPluginRegister(struct flb_proxy_def *def)
{
    def->type = FLB_OPAMP_PROXY_INPUT_PLUGIN;
    def->proxy = FLB_OPAMP_PROXY_GOLANG;
    def->flags = 0;
    def->name = name;
    def->description = description;
    return 0;
}

int FLBPluginInit(struct flb_input_plugin_head *plugin) { (void)plugin; return 1; }
int FLBPluginInputCallback(void **data, size_t *len) { *data = NULL; *len = 0; return 0; }
int FLBPluginExit(void) { return 0; }
