//go:build cgo && linux && !confine_slim

// This binary is the full one (bin/confine-full, or any build without confine_slim): it
// runs every command itself and hands nothing over (stage_slim.c).
#include "stage.h"

const int stage_slim_binary = 0;
