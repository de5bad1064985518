/* scripts.c: being written. */
typedef int oa_placeholder_scripts;
