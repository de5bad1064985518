#include "cli.h"

int main(int argc, char **argv)
{
    return oa_cli_main(argc, argv);
}
