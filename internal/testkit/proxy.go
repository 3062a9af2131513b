package testkit

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy is an HTTP proxy on 127.0.0.1 in front of a real server. By
// default it forwards faithfully; a Fault makes it break the exchange in
// one of the ways a real server does only sometimes (a cut body, a reset,
// a stall, a slow or paced body, an error status), on demand.
type Proxy struct {
	// URL is the proxy's base URL, e.g. http://127.0.0.1:41234.
	URL string

	upstream   func() string
	srv        *httptest.Server
	requests   atomic.Int64
	received   chan struct{}
	held       chan struct{}
	uploadHeld chan struct{}

	mu     sync.Mutex
	fault  Fault   // for every request once queued is used up
	queued []Fault // for the next requests, one each
	times  []time.Time
	errs   []string // upstream failures under a fault that needed its answer
}

// Fault says how the proxy breaks one exchange. The zero Fault forwards
// faithfully. Fields are applied in this order: the ones that answer
// without asking the upstream (Reset, Stall, Respond, Status), then the
// ones that delay or redirect the request (Delay, Hold, Upstream, Rate),
// then the ones that change the upstream's answer.
type Fault struct {
	// Reset resets the connection before any response.
	Reset bool
	// Stall sends nothing and holds the connection until the client leaves.
	Stall bool
	// Respond answers the request itself (pages, garbage, endless bodies).
	Respond http.HandlerFunc
	// Status, when non-zero, answers with this status, Header and Body
	// (Content-Type text/plain and the body's Content-Length unless Header
	// sets them).
	Status int
	Header map[string]string
	Body   string

	// Delay waits before forwarding; Hold waits until it is closed. Either
	// ends early when the client leaves.
	Delay time.Duration
	Hold  <-chan struct{}
	// Upstream, when set, is asked instead of the proxy's upstream.
	Upstream func() string
	// Rate paces both bodies, request and response, at this many bytes
	// per second (a restore upload as much as a download).
	Rate int
	// HoldUploadAfter forwards this many bytes of the request body, signals
	// UploadHeld, and forwards no more until ReleaseUpload is closed (or the
	// client leaves): a restore upload stopped at a known point, so that a
	// test can change its file mid-upload.
	HoldUploadAfter int64
	ReleaseUpload   <-chan struct{}

	// DropHeaders and SetHeaders change the upstream's response headers.
	DropHeaders []string
	SetHeaders  map[string]string
	// Corrupt flips one byte in the middle of the body (Content-Length
	// stays right).
	Corrupt bool
	// Cut ends the body early, after CutAt bytes (0: half the body, which
	// the proxy then reads whole first). OnCut, when set, runs after the
	// partial body was sent and before the hang-up.
	Cut   Cut
	CutAt int64
	OnCut func()
	// HoldAfter sends this many bytes of the body, signals Held, and keeps
	// the connection open without sending more until the client leaves.
	HoldAfter int64
	// Trickle sends First bytes at once, then Chunk bytes every Every.
	Trickle Trickle
}

// Trickle paces a response body (see Fault.Trickle).
type Trickle struct {
	First, Chunk int
	Every        time.Duration
}

// Cut is how Fault.Cut ends a body early.
type Cut int

const (
	// NoCut sends the whole body.
	NoCut Cut = iota
	// CutClose keeps the full Content-Length and closes the connection
	// (FIN): a server that died mid-transfer.
	CutClose
	// CutReset keeps the full Content-Length and resets the connection
	// (TCP RST).
	CutReset
	// CutChunked sends the body chunked, without a length, and closes the
	// connection before the final chunk.
	CutChunked
)

// NewProxy starts a proxy to upstream (a base URL), closed when the test
// ends.
func NewProxy(t testing.TB, upstream string) *Proxy {
	return NewProxyTo(t, func() string { return upstream })
}

// NewProxyTo is NewProxy with an upstream chosen per request, the way a
// load balancer picks whichever server leads.
func NewProxyTo(t testing.TB, upstream func() string) *Proxy {
	p := &Proxy{upstream: upstream, received: make(chan struct{}, 256), held: make(chan struct{}, 256), uploadHeld: make(chan struct{}, 256)}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(p.serve)) // binds 127.0.0.1
	p.srv.Listener = fixedReadBuffer{p.srv.Listener}
	p.srv.Start()
	p.URL = p.srv.URL
	t.Cleanup(func() {
		p.srv.CloseClientConnections()
		p.srv.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, e := range p.errs {
			t.Errorf("proxy: %s", e)
		}
	})
	return p
}

// Set makes every following request meet f (Fault{}: forward faithfully),
// and drops what Queue had queued.
func (p *Proxy) Set(f Fault) {
	p.mu.Lock()
	p.fault, p.queued = f, nil
	p.mu.Unlock()
}

// Queue makes the next len(fs) requests meet fs, one each, before the
// fault of Set applies again: "500, then 503, then recover".
func (p *Proxy) Queue(fs ...Fault) {
	p.mu.Lock()
	p.queued = append(p.queued, fs...)
	p.mu.Unlock()
}

// Requests is how many requests the proxy has received.
func (p *Proxy) Requests() int { return int(p.requests.Load()) }

// RequestTimes is when each request arrived.
func (p *Proxy) RequestTimes() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.times...)
}

// Received receives a value for each request the proxy receives.
func (p *Proxy) Received() <-chan struct{} { return p.received }

// Held receives a value each time a HoldAfter response has sent its bytes
// and started holding.
func (p *Proxy) Held() <-chan struct{} { return p.held }

// UploadHeld receives a value each time a HoldUploadAfter request has
// forwarded its bytes and started holding.
func (p *Proxy) UploadHeld() <-chan struct{} { return p.uploadHeld }

func (p *Proxy) next() Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.times = append(p.times, time.Now())
	if len(p.queued) > 0 {
		f := p.queued[0]
		p.queued = p.queued[1:]
		return f
	}
	return p.fault
}

func (p *Proxy) fail(format string, args ...any) {
	p.mu.Lock()
	p.errs = append(p.errs, fmt.Sprintf(format, args...))
	p.mu.Unlock()
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	f := p.next()
	signal(p.received)
	ctx := r.Context()
	switch {
	case f.Reset:
		hangUp(w, true, false)
		return
	case f.Stall:
		<-ctx.Done()
		return
	case f.Respond != nil:
		f.Respond(w, r)
		return
	case f.Status != 0:
		h := w.Header()
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Content-Length", strconv.Itoa(len(f.Body)))
		for k, v := range f.Header {
			h.Set(k, v)
		}
		w.WriteHeader(f.Status)
		io.WriteString(w, f.Body)
		return
	}
	if f.Delay > 0 && !sleepCtx(ctx, f.Delay) {
		return
	}
	if f.Hold != nil {
		select {
		case <-f.Hold:
		case <-ctx.Done():
			return
		}
	}
	base := p.upstream()
	if f.Upstream != nil {
		base = f.Upstream()
	}
	var reqBody io.Reader = r.Body
	if f.Rate > 0 {
		reqBody = &pacedReader{r: r.Body, rate: f.Rate, ctx: ctx}
	}
	if f.HoldUploadAfter > 0 {
		reqBody = &heldReader{r: reqBody, left: f.HoldUploadAfter, release: f.ReleaseUpload, ctx: ctx, held: func() { signal(p.uploadHeld) }}
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, base+r.URL.RequestURI(), reqBody)
	if err != nil {
		http.Error(w, "proxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	req.ContentLength = r.ContentLength
	req.Header = r.Header.Clone()
	// The Host the client sent, as a real proxy keeps it: an S3 client signs
	// it (SigV4), so a changed Host would fail every request.
	req.Host = r.Host
	resp, err := (&http.Transport{Proxy: nil, DisableCompression: true}).RoundTrip(req)
	changes := f.Corrupt || f.Cut != NoCut || len(f.DropHeaders) > 0 || len(f.SetHeaders) > 0
	if err != nil {
		if changes && ctx.Err() == nil {
			p.fail("upstream %s: %v (the fault needs its answer)", base, err)
		}
		http.Error(w, "proxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	h := w.Header()
	for k, v := range resp.Header {
		h[k] = v
	}
	for _, k := range f.DropHeaders {
		h.Del(k)
	}
	for k, v := range f.SetHeaders {
		h.Set(k, v)
	}

	if f.Corrupt || (f.Cut != NoCut && f.CutAt == 0) {
		// Faults that need the whole body first.
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			p.fail("reading upstream %s's answer: %v (the fault needs it whole)", base, err)
			http.Error(w, "proxy: upstream failed", http.StatusBadGateway)
			return
		}
		if f.Corrupt && len(body) > 0 {
			body[len(body)/2] ^= 0xff
		}
		send := body
		if f.Cut != NoCut {
			send = body[:len(body)/2]
		}
		if f.Cut == CutChunked {
			h.Del("Content-Length")
		} else {
			h.Set("Content-Length", strconv.Itoa(len(body)))
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(send)
		if f.Cut != NoCut {
			p.cut(w, f)
		}
		return
	}

	if f.Cut == CutChunked {
		h.Del("Content-Length")
	}
	w.WriteHeader(resp.StatusCode)
	var body io.Reader = resp.Body
	if f.Rate > 0 {
		body = &pacedReader{r: resp.Body, rate: f.Rate, ctx: ctx}
	}
	switch {
	case f.Cut != NoCut:
		copyFlush(w, io.LimitReader(body, f.CutAt))
		p.cut(w, f)
	case f.HoldAfter > 0:
		copyFlush(w, io.LimitReader(body, f.HoldAfter))
		signal(p.held)
		<-ctx.Done()
	case f.Trickle.Chunk > 0:
		if f.Trickle.First > 0 && copyFlush(w, io.LimitReader(body, int64(f.Trickle.First))) != nil {
			return
		}
		// The pace is the fault, not synchronisation.
		tick := time.NewTicker(f.Trickle.Every)
		defer tick.Stop()
		for {
			n, err := io.CopyN(w, body, int64(f.Trickle.Chunk))
			if n > 0 {
				w.(http.Flusher).Flush()
			}
			if err != nil {
				return
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
		}
	default:
		copyFlush(w, body)
	}
}

// cut flushes what was sent, runs OnCut and hangs up as f.Cut says.
func (p *Proxy) cut(w http.ResponseWriter, f Fault) {
	w.(http.Flusher).Flush()
	if f.OnCut != nil {
		f.OnCut()
	}
	hangUp(w, f.Cut == CutReset, true)
}

// copyFlush copies src to w, flushing after each read so that a paced or
// partial body reaches the client as it goes.
func copyFlush(w http.ResponseWriter, src io.Reader) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			w.(http.Flusher).Flush()
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// hangUp ends the exchange at the TCP level: a close (FIN), or a reset
// (RST) when reset is set. flush sends the buffered response first.
func hangUp(w http.ResponseWriter, reset, flush bool) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	if flush {
		buf.Flush()
	}
	if reset {
		conn.(*net.TCPConn).SetLinger(0)
	}
	conn.Close()
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// proxyReadBuffer is the receive buffer of the proxy's client connections.
// Fixed (the kernel would grow it to tens of MiB on loopback), so that a
// held upload stops its client within a known distance of the bytes
// forwarded: at most this (doubled by the kernel) plus the client's own
// send buffer.
const proxyReadBuffer = 256 << 10

type fixedReadBuffer struct{ net.Listener }

func (l fixedReadBuffer) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tcp, ok := c.(*net.TCPConn); ok {
		tcp.SetReadBuffer(proxyReadBuffer)
	}
	return c, err
}

// heldReader delivers left bytes of r, then calls held and waits for
// release (or ctx) before it delivers the rest.
type heldReader struct {
	r       io.Reader
	left    int64
	release <-chan struct{}
	ctx     context.Context
	held    func()
	waited  bool
}

func (h *heldReader) Read(b []byte) (int, error) {
	if h.left > 0 {
		n, err := h.r.Read(b[:min(int64(len(b)), h.left)])
		h.left -= int64(n)
		return n, err
	}
	if !h.waited {
		h.waited = true
		h.held()
		select {
		case <-h.release:
		case <-h.ctx.Done():
			return 0, h.ctx.Err()
		}
	}
	return h.r.Read(b)
}

// pacedReader delivers at most rate bytes per second from r.
type pacedReader struct {
	r     io.Reader
	rate  int
	ctx   context.Context
	start time.Time
	done  int64
}

func (p *pacedReader) Read(b []byte) (int, error) {
	if p.start.IsZero() {
		p.start = time.Now()
	}
	if len(b) > 32<<10 {
		b = b[:32<<10]
	}
	// Wait until the bytes already delivered are due: a rate limit, not
	// synchronisation.
	due := p.start.Add(time.Duration(float64(p.done) / float64(p.rate) * float64(time.Second)))
	if wait := time.Until(due); wait > 0 && !sleepCtx(p.ctx, wait) {
		return 0, p.ctx.Err()
	}
	n, err := p.r.Read(b)
	p.done += int64(n)
	return n, err
}
