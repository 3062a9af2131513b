// Package webhook tells HTTP receivers about the daemon's events: a run
// failed, a job recovered, a snapshot went stale, a reload was refused. It
// never blocks the jobs: an event is queued, and each webhook delivers its
// queue on its own goroutine with retries and backoff. Nothing secret
// reaches a payload, and a webhook's URL (Slack hides a secret in its
// path) and headers never reach a log.
package webhook

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/raftsnap/raftsnap/daemon/controlapi"
)

// Schema is the version of the JSON payload; bumped when a field changes
// meaning or disappears (adding fields needs no bump).
const Schema = 1

// Event is one thing worth telling: the JSON payload, as documented in
// docs/monitoring.md.
type Event struct {
	Schema   int       `json:"schema"`
	Event    string    `json:"event"`    // run_failed, job_recovered, snapshot_stale, ...
	Severity string    `json:"severity"` // info, warning, error
	Time     time.Time `json:"time"`
	Host     string    `json:"host"`
	Version  string    `json:"daemon_version"`
	Job      string    `json:"job,omitempty"`
	JobType  string    `json:"job_type,omitempty"`
	// Message is the event in one line, for chat and mail.
	Message string `json:"message"`
	// Run is the run the event is about, when there is one.
	Run *controlapi.RunReport `json:"run,omitempty"`
}

// Config is one webhook.
type Config struct {
	Name        string
	URL         string
	Format      string // json or slack
	HeadersFile string
	MinSeverity string
	Events      []string // empty: all
	Timeout     time.Duration
	MaxRetries  int
	Initial     time.Duration
	MaxBackoff  time.Duration
}

// Metrics counts deliveries; result is sent, failed (after every retry) or
// dropped (the queue was full).
type Metrics interface {
	Delivered(webhook, result string)
}

// queueSize bounds a webhook's backlog: when a receiver is down for long,
// the oldest events go first.
const queueSize = 256

var severityRank = map[string]int{"info": 0, "warning": 1, "error": 2}

// Notifier fans events out to webhooks.
type Notifier struct {
	hooks   []*sender
	host    string
	version string
}

// New starts a sender per webhook; they stop when ctx ends (after trying
// what is already queued once more, briefly).
func New(ctx context.Context, hooks []Config, version string, logger *slog.Logger, metrics Metrics) *Notifier {
	host, _ := os.Hostname()
	n := &Notifier{host: host, version: version}
	for _, c := range hooks {
		s := &sender{cfg: c, logger: logger.With("webhook", c.Name, "to", shownURL(c.URL)), metrics: metrics,
			wake: make(chan struct{}, 1), client: &http.Client{Timeout: c.Timeout,
				// A redirect would take the headers elsewhere.
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
		n.hooks = append(n.hooks, s)
		go s.loop(ctx)
	}
	return n
}

// Notify queues e for every webhook that wants it; it never blocks.
func (n *Notifier) Notify(e Event) {
	if n == nil {
		return
	}
	e.Schema, e.Host, e.Version = Schema, n.host, n.version
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	for _, s := range n.hooks {
		if s.wants(e) {
			s.enqueue(e)
		}
	}
}

type sender struct {
	cfg     Config
	logger  *slog.Logger
	metrics Metrics
	client  *http.Client

	mu    sync.Mutex
	queue []Event
	wake  chan struct{}
}

func (s *sender) wants(e Event) bool {
	if severityRank[e.Severity] < severityRank[s.cfg.MinSeverity] {
		return false
	}
	return len(s.cfg.Events) == 0 || slices.Contains(s.cfg.Events, e.Event)
}

func (s *sender) enqueue(e Event) {
	s.mu.Lock()
	if len(s.queue) >= queueSize {
		s.queue = s.queue[1:]
		s.count("dropped")
		s.logger.Warn("webhook queue full: the oldest event is dropped", "event", e.Event)
	}
	s.queue = append(s.queue, e)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *sender) count(result string) {
	if s.metrics != nil {
		s.metrics.Delivered(s.cfg.Name, result)
	}
}

func (s *sender) loop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		}
		for {
			s.mu.Lock()
			if len(s.queue) == 0 {
				s.mu.Unlock()
				break
			}
			e := s.queue[0]
			s.queue = s.queue[1:]
			s.mu.Unlock()
			s.deliver(ctx, e)
		}
	}
}

// deliver posts e, retrying with doubling backoff (a receiver's
// Retry-After is honoured when longer); 4xx answers other than 408 and 429
// are not retried: the same request would be refused again.
func (s *sender) deliver(ctx context.Context, e Event) {
	body, err := s.payload(e)
	if err != nil {
		s.logger.Error("webhook: cannot encode the event", "event", e.Event, "err", err)
		s.count("failed")
		return
	}
	wait := s.cfg.Initial
	for attempt := 0; ; attempt++ {
		retryAfter, retry, err := s.post(ctx, body)
		if err == nil {
			s.count("sent")
			s.logger.Debug("webhook: event sent", "event", e.Event, "job", e.Job)
			return
		}
		if !retry || attempt >= s.cfg.MaxRetries || ctx.Err() != nil {
			s.count("failed")
			s.logger.Error("webhook: event not delivered", "event", e.Event, "job", e.Job, "attempts", attempt+1, "err", err)
			return
		}
		d := max(wait, retryAfter)
		s.logger.Warn("webhook: delivery failed; retrying", "event", e.Event, "attempt", attempt+1, "backoff", d, "err", err)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			s.count("failed")
			return
		case <-t.C:
		}
		wait = min(wait*2, s.cfg.MaxBackoff)
	}
}

func (s *sender) payload(e Event) ([]byte, error) {
	if s.cfg.Format == "slack" {
		// Slack-compatible incoming webhooks take {"text": ...}.
		icon := map[string]string{"info": ":information_source:", "warning": ":warning:", "error": ":rotating_light:"}[e.Severity]
		return json.Marshal(map[string]string{"text": fmt.Sprintf("%s raftsnap on %s: %s", icon, e.Host, e.Message)})
	}
	return json.Marshal(e)
}

// post sends one request; it reports whether a failure is worth retrying
// and how long the receiver asked to wait.
func (s *sender) post(ctx context.Context, body []byte) (time.Duration, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return 0, false, errors.New("building the request failed") // the error would quote the URL
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "raftsnap/"+s.cfg.Name)
	if s.cfg.HeadersFile != "" {
		headers, err := readHeaders(s.cfg.HeadersFile)
		if err != nil {
			return 0, false, err
		}
		for k, v := range headers {
			req.Header.Set(k, v)
		}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		// url.Error quotes the URL: keep only its cause.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return 0, true, fmt.Errorf("posting to %s: %w", shownURL(s.cfg.URL), err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 {
		return 0, false, nil
	}
	var after time.Duration
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		after = time.Duration(min(secs, 3600)) * time.Second
	}
	retry := resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout
	return after, retry, fmt.Errorf("%s answered %s", shownURL(s.cfg.URL), resp.Status)
}

// readHeaders reads "Name: value" lines; blank lines and # comments are
// skipped. Values are secrets: errors never quote them.
func readHeaders(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the headers file: %w", err)
	}
	headers := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		name, value, ok := strings.Cut(text, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t") || strings.ContainsAny(value, "\r\n") {
			return nil, fmt.Errorf("headers file %s:%d is not a \"Name: value\" line", path, line)
		}
		headers[name] = strings.TrimSpace(value)
	}
	return headers, nil
}

// shownURL is what logs may say of a webhook's URL: scheme and host.
func shownURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "the webhook"
	}
	return u.Scheme + "://" + u.Host
}
