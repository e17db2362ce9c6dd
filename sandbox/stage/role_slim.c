//go:build cgo && linux && confine_slim

// This binary is the slim one, bin/confine (cmd/confine/slim.go): its constructor hands
// what it lacks to bin/confine-full (stage_slim.c).
#include "stage.h"

const int stage_slim_binary = 1;
