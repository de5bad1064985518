/* admin_plugins.c: being split out. */
typedef int oa_placeholder_admin_plugins;
