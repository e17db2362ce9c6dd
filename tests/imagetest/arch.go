package imagetest

import "runtime"

const goarch = runtime.GOARCH
