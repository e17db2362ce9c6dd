package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

// The REST API on the stack's unix socket; docs/api.openapi.yaml describes it. Access is
// the socket's: mode 0600 in a 0700 directory, so only root (who started the stack) may
// use it.

type apiServer struct {
	srv *http.Server
	l   net.Listener
}

// StackInfo is what GET /v1/stack answers.
type StackInfo struct {
	Name       string   `json:"name"`
	Pid        int      `json:"pid"`
	Subnet     string   `json:"subnet,omitempty"`
	Components []Status `json:"components"`
}

func serveAPI(s *Supervisor, path string) (*apiServer, error) {
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("API socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/stack", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, StackInfo{Name: s.plan.Name, Pid: os.Getpid(), Subnet: s.plan.Network.Subnet, Components: s.Status()})
	})
	mux.HandleFunc("GET /v1/components", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Status())
	})
	mux.HandleFunc("GET /v1/components/{name}", s.withComponent(func(w http.ResponseWriter, r *http.Request, c *component) {
		writeJSON(w, http.StatusOK, c.snapshot())
	}))
	mux.HandleFunc("POST /v1/components/{name}/{action}", s.withComponent(func(w http.ResponseWriter, r *http.Request, c *component) {
		grace, err := graceParam(r)
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		switch r.PathValue("action") {
		case "start":
			err = c.start(r.Context())
		case "stop":
			c.stop(grace)
		case "restart":
			err = c.restart(r.Context(), grace)
		case "pause":
			err = c.pause(true)
		case "unpause":
			err = c.pause(false)
		default:
			writeError(w, http.StatusNotFound, fmt.Errorf("unknown action %q; expected start, stop, restart, pause or unpause", r.PathValue("action")))
			return
		}
		if err != nil {
			writeError(w, http.StatusConflict, err)
			return
		}
		writeJSON(w, http.StatusOK, c.snapshot())
	}))
	mux.HandleFunc("POST /v1/components/{name}/exec", s.withComponent(s.serveExec))
	mux.HandleFunc("GET /v1/components/{name}/logs", s.withComponent(func(w http.ResponseWriter, r *http.Request, c *component) {
		tail, _ := strconv.Atoi(r.URL.Query().Get("tail"))
		serveLogs(w, r, c.log, tail, r.URL.Query().Get("follow") == "true")
	}))
	mux.HandleFunc("GET /v1/events", func(w http.ResponseWriter, r *http.Request) {
		serveEvents(w, r, s.events, r.URL.Query().Get("follow") == "true")
	})
	mux.HandleFunc("POST /v1/down", func(w http.ResponseWriter, r *http.Request) {
		grace, err := graceParam(r)
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "going down"})
		go s.Down(grace)
	})
	a := &apiServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, l: l}
	go a.srv.Serve(l)
	return a, nil
}

// withComponent resolves the {name} of the path to a component, or answers 404.
func (s *Supervisor) withComponent(h func(http.ResponseWriter, *http.Request, *component)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := s.component(r.PathValue("name"))
		if err != nil {
			writeError(w, http.StatusNotFound, err)
			return
		}
		h(w, r, c)
	}
}

func (a *apiServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	a.srv.Shutdown(ctx) // streams (logs -f, events -f) are cut after a second
	a.srv.Close()
}

func graceParam(r *http.Request) (time.Duration, error) {
	g := r.URL.Query().Get("grace")
	if g == "" {
		return DefaultGrace, nil
	}
	d, err := time.ParseDuration(g)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("grace: expected a duration such as 10s, found %q", g)
	}
	return d, nil
}

// serveLogs writes the component's log lines as JSON Lines: the last tail of them (all
// when tail is 0), then, with follow, each new line until the client goes away.
func serveLogs(w http.ResponseWriter, r *http.Request, book *logBook, tail int, follow bool) {
	lf, err := openLogFollower(book.path)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	defer lf.close()
	w.Header().Set("Content-Type", "application/x-ndjson")
	changed := book.wait()
	lines := lf.read(nil)
	if tail > 0 && len(lines) > tail {
		lines = lines[len(lines)-tail:]
	}
	flusher, _ := w.(http.Flusher)
	for {
		for _, l := range lines {
			if _, err := w.Write(l); err != nil {
				return
			}
		}
		lines = lines[:0]
		if flusher != nil {
			flusher.Flush()
		}
		if !follow {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-changed:
		case <-time.After(time.Second): // the file may have been closed with the stack
		}
		changed = book.wait()
		lines = lf.read(lines)
	}
}

// serveEvents writes the events so far as JSON Lines, then, with follow, each new one.
func serveEvents(w http.ResponseWriter, r *http.Request, b *bus, follow bool) {
	history, ch := b.subscribe()
	defer b.unsubscribe(ch)
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	for _, e := range history {
		if enc.Encode(e) != nil {
			return
		}
	}
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	for follow {
		select {
		case <-r.Context().Done():
			return
		case e := <-ch:
			if enc.Encode(e) != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
	}
}

// apiError is the body of every error answer.
type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, apiError{Error: err.Error()})
}

// Client talks to a stack's supervisor over its socket.
type Client struct {
	Stack string
	http  *http.Client
}

// ErrNotRunning means no supervisor answers on the stack's socket.
var ErrNotRunning = errors.New("the stack is not up")

// NewClient returns a client for stack name's socket.
func NewClient(name string) *Client {
	path := SocketPath(name)
	return &Client{Stack: name, http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}}
}

// Do sends a request and decodes a JSON answer into out (when not nil). For streams, use
// Stream.
func (c *Client) Do(method, path string, out any) error {
	resp, err := c.Stream(method, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// Stream sends a request and returns the answer, whose body the caller reads and closes.
// An error answer becomes an error.
func (c *Client) Stream(method, path string) (*http.Response, error) {
	req, err := http.NewRequest(method, "http://confine"+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ne *net.OpError
		if errors.As(err, &ne) || errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s (%v)", ErrNotRunning, c.Stack, err)
		}
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var e apiError
		if json.NewDecoder(resp.Body).Decode(&e) == nil && e.Error != "" {
			return nil, errors.New(e.Error)
		}
		return nil, fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	return resp, nil
}
