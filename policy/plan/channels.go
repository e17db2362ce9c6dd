package plan

// Channel is a filesystem path this component shares with another: a unix socket it
// connects to or serves, or a shared directory. Both sides declare it, and each side's
// Plan holds its own half. Built by compileChannels (policy/compile_unix.go); the client's
// bind of the socket's directory is in Mounts (Why "network.connect unix").
type Channel struct {
	Kind string `json:"kind"` // unix or share
	Peer string `json:"peer"` // the other component
	// Role is, for unix, "connect" (the client) or "serve"; for share, "write" when this
	// component may write beneath the path and "read" when it may only read.
	Role string `json:"role"`
	// Path is as seen inside the component (the socket, or the shared path); HostPath is
	// where it lies on the host.
	Path     string `json:"path"`
	HostPath string `json:"host_path"`
	// Why is the declaration ("api.yaml:14:9 network.connect[1] unix redis:/run/redis/redis.sock").
	Why string `json:"why"`
}
