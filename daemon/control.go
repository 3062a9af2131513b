package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/raftsnap/raftsnap/daemon/controlapi"

	"github.com/raftsnap/raftsnap/daemon/job"
)

// JobSource is what the control server needs from the daemon: the status
// report and the jobs to signal.
type JobSource interface {
	// Status is the report: every job's summary, or every job in full.
	Status(full bool) controlapi.DaemonStatus
	Job(name string) (job.Job, bool)
	JobNames() []string
}

// ControlMetrics counts control requests; endpoint is one of the fixed
// endpoint paths (or "other"), so label cardinality stays bounded.
type ControlMetrics interface {
	ObserveRequest(endpoint string, code int)
}

// Control socket limits. Requests are tiny JSON documents; the long part of a
// `signal --wait` is the wait, which clears its own write deadline.
const (
	maxControlBody          = 64 << 10
	controlReadHeaderTimout = 5 * time.Second
	controlReadTimeout      = 10 * time.Second
	controlWriteTimeout     = 30 * time.Second
	controlIdleTimeout      = 60 * time.Second
	pprofStopTimeout        = 5 * time.Second
)

// ControlServer serves the control API (/status, /signal, /version,
// /debug/pprof) as JSON over HTTP on the private unix socket.
type ControlServer struct {
	jobs    JobSource
	info    controlapi.VersionInfo
	logger  *slog.Logger
	metrics ControlMetrics
	srv     *http.Server

	// base is the parent of every request's context; Shutdown cancels it so
	// that `wait` signals end instead of holding the shutdown up.
	base       context.Context
	cancelBase context.CancelFunc

	pprofMu sync.Mutex
	pprof   *pprofServer

	// reload, when set (by Run), reloads the configuration file and returns
	// the outcome; without it /reload answers 409.
	reload func(ctx context.Context) (controlapi.ReloadResponse, error)
}

type pprofServer struct {
	srv  *http.Server
	addr string
	done chan struct{} // closed when Serve returned
}

// NewControlServer returns a control server over jobs. metrics may be nil.
func NewControlServer(jobs JobSource, info controlapi.VersionInfo, logger *slog.Logger, metrics ControlMetrics) *ControlServer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &ControlServer{jobs: jobs, info: info, logger: logger, metrics: metrics}
	s.base, s.cancelBase = context.WithCancel(context.Background())
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: controlReadHeaderTimout,
		ReadTimeout:       controlReadTimeout,
		WriteTimeout:      controlWriteTimeout,
		IdleTimeout:       controlIdleTimeout,
		BaseContext:       func(net.Listener) context.Context { return s.base },
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	return s
}

// Serve answers requests on l until Shutdown. It returns nil after
// Shutdown, and any other error (the listener failed) otherwise: the daemon
// must stop then, since nobody could control it any more.
func (s *ControlServer) Serve(l net.Listener) error {
	err := s.srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("control socket: %w", err)
}

// Shutdown ends pending waits, stops the pprof server and closes the control
// server, waiting for answers in flight until ctx is done.
func (s *ControlServer) Shutdown(ctx context.Context) error {
	s.cancelBase()
	s.pprofMu.Lock()
	s.stopPprofLocked(ctx)
	s.pprofMu.Unlock()
	return s.srv.Shutdown(ctx)
}

type endpoint struct {
	method string
	handle func(s *ControlServer, w http.ResponseWriter, r *http.Request)
}

// The control API: one method per path, except /debug/pprof which reads
// with GET and changes with POST.
var controlEndpoints = map[string][]endpoint{
	controlapi.PathStatus:  {{http.MethodGet, (*ControlServer).handleStatus}},
	controlapi.PathSignal:  {{http.MethodPost, (*ControlServer).handleSignal}},
	controlapi.PathVersion: {{http.MethodGet, (*ControlServer).handleVersion}},
	controlapi.PathReload:  {{http.MethodPost, (*ControlServer).handleReload}},
	controlapi.PathPprof:   {{http.MethodGet, (*ControlServer).handlePprofStatus}, {http.MethodPost, (*ControlServer).handlePprof}},
}

// ServeHTTP routes by hand so that every answer, 404 and 405 included, is
// JSON, and so that metrics get a bounded endpoint label.
func (s *ControlServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	label := "other"
	defer func() {
		if s.metrics != nil {
			s.metrics.ObserveRequest(label, rec.code)
		}
	}()

	eps, ok := controlEndpoints[r.URL.Path]
	if !ok {
		writeError(rec, http.StatusNotFound, controlapi.ErrorResponse{
			Error: fmt.Sprintf("no such endpoint %s: use %s or %s", r.URL.Path,
				strings.Join(controlapi.Paths[:len(controlapi.Paths)-1], ", "), controlapi.Paths[len(controlapi.Paths)-1]),
		})
		return
	}
	label = r.URL.Path
	var allowed []string
	for _, ep := range eps {
		if ep.method == r.Method {
			ep.handle(s, rec, r)
			return
		}
		allowed = append(allowed, ep.method)
	}
	rec.Header().Set("Allow", strings.Join(allowed, ", "))
	writeError(rec, http.StatusMethodNotAllowed, controlapi.ErrorResponse{
		Error: fmt.Sprintf("%s %s is not allowed: use %s", r.Method, r.URL.Path, strings.Join(allowed, " or ")),
	})
}

// handleStatus answers the summary by default (small, the same size per
// job whatever it has done: the live view polls it every second),
// ?job=NAME with that job in full, ?detail=full with every job in full.
func (s *ControlServer) handleStatus(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for key := range q {
		if key != controlapi.QueryJob && key != controlapi.QueryDetail {
			writeError(w, http.StatusBadRequest, controlapi.ErrorResponse{Error: fmt.Sprintf("unknown parameter %s: use job=NAME or detail=full", clip(key))})
			return
		}
	}
	detail, name := q.Get(controlapi.QueryDetail), q.Get(controlapi.QueryJob)
	if detail != "" && detail != controlapi.DetailFull && detail != controlapi.DetailSummary {
		writeError(w, http.StatusBadRequest, controlapi.ErrorResponse{Error: fmt.Sprintf("unknown detail %s: use full or summary", clip(detail))})
		return
	}
	if name == "" {
		writeJSON(w, http.StatusOK, s.jobs.Status(detail == controlapi.DetailFull))
		return
	}
	j, ok := s.jobs.Job(name)
	if !ok {
		names := s.jobs.JobNames()
		writeError(w, http.StatusNotFound, controlapi.ErrorResponse{Error: fmt.Sprintf("unknown job %s; jobs: %s", clip(name), strings.Join(names, ", ")), Jobs: names})
		return
	}
	st := s.jobs.Status(false)
	st.Detail = controlapi.DetailFull
	full := JobReport(j, true)
	for _, summary := range st.Jobs {
		if summary.Name == name {
			full.Crashes, full.LastCrash = summary.Crashes, summary.LastCrash
		}
	}
	st.Jobs = []controlapi.JobStatus{full}
	writeJSON(w, http.StatusOK, st)
}

func (s *ControlServer) handleVersion(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.info)
}

func (s *ControlServer) handleReload(w http.ResponseWriter, r *http.Request) {
	var req struct{}
	if !decodeRequest(w, r, &req, `{}`) {
		return
	}
	if s.reload == nil {
		writeError(w, http.StatusConflict, controlapi.ErrorResponse{Error: "this daemon cannot reload its configuration"})
		return
	}
	// A reload rebuilds jobs and may wait for replaced ones to stop: lift
	// the write deadline as a waiting signal does.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	resp, err := s.reload(r.Context())
	var refused *reloadRefusedError
	switch {
	case err == nil:
		s.logger.Info("control: configuration reloaded on request")
		writeJSON(w, http.StatusOK, resp)
	case errors.As(err, &refused):
		writeError(w, http.StatusUnprocessableEntity, controlapi.ErrorResponse{Error: refused.Error()})
	case errors.Is(err, errNoConfigFile):
		writeError(w, http.StatusConflict, controlapi.ErrorResponse{Error: err.Error()})
	case r.Context().Err() != nil:
		// The client went away, or the daemon is stopping.
	default:
		writeError(w, http.StatusInternalServerError, controlapi.ErrorResponse{Error: "reload failed: " + err.Error()})
	}
}

func (s *ControlServer) handleSignal(w http.ResponseWriter, r *http.Request) {
	var req controlapi.SignalRequest
	if !decodeRequest(w, r, &req, `{"job": "NAME", "op": "wakeup"}`) {
		return
	}
	if req.Job == "" {
		writeError(w, http.StatusBadRequest, controlapi.ErrorResponse{Error: `"job" is required`, Jobs: s.jobs.JobNames()})
		return
	}
	if !slices.Contains(controlapi.Ops, req.Op) {
		writeError(w, http.StatusBadRequest, controlapi.ErrorResponse{Error: fmt.Sprintf("unknown op %s: use wakeup or reset", clip(req.Op))})
		return
	}
	if req.Wait && req.Op != controlapi.OpWakeup {
		writeError(w, http.StatusBadRequest, controlapi.ErrorResponse{Error: "wait applies only to wakeup: reset takes effect at once"})
		return
	}
	j, ok := s.jobs.Job(req.Job)
	if !ok {
		names := s.jobs.JobNames()
		msg := fmt.Sprintf("unknown job %s; jobs: %s", clip(req.Job), strings.Join(names, ", "))
		if len(names) == 0 {
			msg = fmt.Sprintf("unknown job %s: the daemon has no jobs", clip(req.Job))
		}
		writeError(w, http.StatusNotFound, controlapi.ErrorResponse{Error: msg, Jobs: names})
		return
	}

	resp := controlapi.SignalResponse{Job: req.Job, Op: req.Op}
	if req.Op == controlapi.OpReset {
		if err := j.Reset(); err != nil {
			s.signalRefused(w, j, req.Op, err)
			return
		}
		s.logger.Info("signal", "job", req.Job, "op", req.Op)
		writeJSON(w, http.StatusOK, resp)
		return
	}

	done, queued, err := j.Wakeup()
	if err != nil {
		s.signalRefused(w, j, req.Op, err)
		return
	}
	resp.Queued = queued
	s.logger.Info("signal", "job", req.Job, "op", req.Op, "queued", queued, "wait", req.Wait)
	if !req.Wait {
		writeJSON(w, http.StatusOK, resp)
		return
	}

	// The run may take hours: lift the write deadline for this answer only.
	// The wait still ends when the client goes away or the daemon stops.
	if err := http.NewResponseController(w).SetWriteDeadline(time.Time{}); err != nil {
		s.logger.Warn("control: cannot lift the write deadline for a waiting signal", "err", err)
	}
	select {
	case report, ok := <-done:
		if !ok {
			writeError(w, http.StatusInternalServerError, controlapi.ErrorResponse{
				Error: fmt.Sprintf("job %q ended the run without a report", req.Job),
			})
			return
		}
		resp.Run = &report
		writeJSON(w, http.StatusOK, resp)
	case <-r.Context().Done():
		if s.base.Err() != nil {
			writeError(w, http.StatusServiceUnavailable, controlapi.ErrorResponse{
				Error: fmt.Sprintf("the daemon is shutting down; the outcome of job %q's run is unknown", req.Job),
			})
			return
		}
		// The client went away (e.g. its --timeout): nobody to answer.
		s.logger.Debug("control: waiting client went away", "job", req.Job)
	}
}

func (s *ControlServer) signalRefused(w http.ResponseWriter, j job.Job, op string, err error) {
	var standby *job.StandbyError
	if errors.As(err, &standby) {
		writeError(w, controlapi.StatusStandby, controlapi.ErrorResponse{Error: fmt.Sprintf("job %q refused %s: %v", j.Name(), op, err)})
		return
	}
	if errors.Is(err, job.ErrUnsupported) {
		writeError(w, http.StatusBadRequest, controlapi.ErrorResponse{
			Error: fmt.Sprintf("job %q (%s) does not support %s", j.Name(), j.Type(), op),
		})
		return
	}
	writeError(w, http.StatusConflict, controlapi.ErrorResponse{
		Error: fmt.Sprintf("job %q refused %s: %v", j.Name(), op, err),
	})
}

func (s *ControlServer) handlePprofStatus(w http.ResponseWriter, r *http.Request) {
	s.pprofMu.Lock()
	defer s.pprofMu.Unlock()
	writeJSON(w, http.StatusOK, s.pprofStatusLocked())
}

func (s *ControlServer) handlePprof(w http.ResponseWriter, r *http.Request) {
	var req controlapi.PprofRequest
	if !decodeRequest(w, r, &req, `{"listen": "127.0.0.1:6060"} or {"off": true}`) {
		return
	}
	if req.Off && req.Listen != "" {
		writeError(w, http.StatusBadRequest, controlapi.ErrorResponse{Error: `give either "listen" or "off", not both`})
		return
	}
	s.pprofMu.Lock()
	defer s.pprofMu.Unlock()
	if req.Off || req.Listen == "" {
		ctx, cancel := context.WithTimeout(r.Context(), pprofStopTimeout)
		defer cancel()
		s.stopPprofLocked(ctx)
		writeJSON(w, http.StatusOK, s.pprofStatusLocked())
		return
	}
	if s.pprof != nil && s.pprof.addr == req.Listen {
		writeJSON(w, http.StatusOK, s.pprofStatusLocked())
		return
	}
	host, _, err := net.SplitHostPort(req.Listen)
	if err != nil {
		writeError(w, http.StatusBadRequest, controlapi.ErrorResponse{
			Error: fmt.Sprintf("invalid pprof listen address %s: want HOST:PORT such as 127.0.0.1:6060", clip(req.Listen)),
		})
		return
	}
	if !isLoopback(host) && !req.AllowRemote {
		// Profiles show the daemon's memory, tokens included: off this
		// host only when asked for in so many words.
		writeError(w, http.StatusBadRequest, controlapi.ErrorResponse{
			Error: fmt.Sprintf("pprof listen address %s is reachable from other hosts, and profiles expose the daemon's memory (tokens included): "+
				"use 127.0.0.1 or ::1, or allow it explicitly (raftsnap pprof on ADDR --allow-remote)", clip(req.Listen)),
		})
		return
	}
	// Bind first, so a busy port is reported to the caller and a running
	// server is only replaced by one that works.
	l, err := net.Listen("tcp", req.Listen)
	if err != nil {
		writeError(w, http.StatusInternalServerError, controlapi.ErrorResponse{
			Error: fmt.Sprintf("cannot start the pprof server on %s: %v", req.Listen, err),
		})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), pprofStopTimeout)
	defer cancel()
	s.stopPprofLocked(ctx)
	s.pprof = startPprof(l, s.logger)
	s.logger.Info("pprof server started", "listen", s.pprof.addr)
	writeJSON(w, http.StatusOK, s.pprofStatusLocked())
}

func (s *ControlServer) pprofStatusLocked() controlapi.PprofStatus {
	if s.pprof == nil {
		return controlapi.PprofStatus{}
	}
	return controlapi.PprofStatus{Running: true, Listen: s.pprof.addr}
}

func (s *ControlServer) stopPprofLocked(ctx context.Context) {
	if s.pprof == nil {
		return
	}
	p := s.pprof
	s.pprof = nil
	// Shutdown waits for a running profile (up to its seconds=N); past ctx,
	// cut the connections.
	if err := p.srv.Shutdown(ctx); err != nil {
		p.srv.Close()
	}
	<-p.done
	s.logger.Info("pprof server stopped", "listen", p.addr)
}

// startPprof serves net/http/pprof on l with its own mux: nothing else that
// a library registered on http.DefaultServeMux gets exposed.
func startPprof(l net.Listener, logger *slog.Logger) *pprofServer {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	p := &pprofServer{
		// No WriteTimeout: profile?seconds=N and trace stream for N seconds.
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: controlReadHeaderTimout, IdleTimeout: controlIdleTimeout},
		addr: l.Addr().String(),
		done: make(chan struct{}),
	}
	go func() {
		defer close(p.done)
		if err := p.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("pprof server failed", "listen", p.addr, "err", err)
		}
	}()
	return p
}

// decodeRequest reads a JSON body of at most maxControlBody bytes into v,
// strictly: one object, nothing after it, only v's own keys spelt exactly
// (encoding/json alone would take "JOB" for "job"), each at most once. On
// failure it writes the error answer and returns false.
func decodeRequest(w http.ResponseWriter, r *http.Request, v any, example string) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxControlBody))
	if err == nil {
		err = checkKeys(body, v)
	}
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		err = dec.Decode(v)
		if err == nil && dec.Decode(&struct{}{}) != io.EOF {
			// A second value (or garbage) after the object is a malformed request.
			err = errors.New("unexpected data after the JSON object")
		}
	}
	if err == nil {
		return true
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, controlapi.ErrorResponse{
			Error: fmt.Sprintf("request body larger than %d bytes", maxControlBody),
		})
	case errors.Is(err, io.EOF):
		writeError(w, http.StatusBadRequest, controlapi.ErrorResponse{Error: "empty request body: send JSON like " + example})
	default:
		writeError(w, http.StatusBadRequest, controlapi.ErrorResponse{
			Error: fmt.Sprintf("malformed request: %s; send JSON like %s", jsonErrorText(err), example),
		})
	}
	return false
}

// checkKeys refuses, in the top-level object of body, a key that is not
// one of v's JSON field names spelt exactly, and a key given twice. Other
// malformations are left to the decoder.
func checkKeys(body []byte, v any) error {
	known := map[string]bool{}
	t := reflect.TypeOf(v).Elem()
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		known[name] = true
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		key, _ := tok.(string)
		switch {
		case !known[key]:
			return fmt.Errorf("unknown field %s", clip(key))
		case seen[key]:
			return fmt.Errorf("field %q given twice", key)
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil
		}
	}
	return nil
}

// clip quotes text a client sent for an error message, cut to a length
// worth reading: an unknown 60 KB job name is not echoed whole.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(s[:cut]), len(s))
}

// jsonErrorText words a decoding error without Go type names.
func jsonErrorText(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return fmt.Sprintf("%q must be a JSON %s, not %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean (true or false)"
	case "struct", "map":
		return "object"
	case "slice", "array":
		return "array"
	default:
		return "number"
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	// Compact: /status of a daemon with many jobs is hundreds of KiB and
	// may be polled many times a second; `status --mode raw` indents it.
	_ = json.NewEncoder(w).Encode(v) // the client may have gone; nothing to do about it
}

func writeError(w http.ResponseWriter, code int, e controlapi.ErrorResponse) {
	writeJSON(w, code, e)
}

// statusRecorder remembers the status code for metrics. Unwrap lets
// http.ResponseController reach the connection's deadlines.
type statusRecorder struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.code, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// isLoopback reports whether host (from HOST:PORT) names only this host:
// a loopback IP or "localhost". "" and 0.0.0.0 mean every interface.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
