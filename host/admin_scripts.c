/* admin_scripts.c: being written. */
typedef int oa_placeholder_admin_scripts;
