package snapshot

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
)

// Headers of the snapshot protocol served by NewHandler.
const (
	HeaderIndex       = "X-Raft-Index"
	HeaderTerm        = "X-Raft-Term"
	HeaderKnownLeader = "X-Raft-Known-Leader"
	HeaderToken       = "X-Raft-Token"
	HeaderDigest      = "Digest"
	// HeaderLeader ("true" or "false") answers HEAD: whether this node
	// leads (raftsnap's leader_local HA asks it); HeaderLeaderAddress names
	// the leader's address when known.
	HeaderLeader        = "X-Raft-Leader"
	HeaderLeaderAddress = "X-Raft-Leader-Address"
)

// DefaultMaxRestoreBytes caps a PUT body when HandlerOptions.MaxRestoreBytes
// is zero.
const DefaultMaxRestoreBytes int64 = 8 << 30

// HandlerOptions configure NewHandler.
type HandlerOptions struct {
	// Token, when non-empty, must be sent in the X-Raft-Token header.
	Token string
	// MaxRestoreBytes caps the body of a restore; 0 means
	// DefaultMaxRestoreBytes, a negative value means no cap.
	MaxRestoreBytes int64
	// TempDir holds the archive being served and the state being restored;
	// "" means os.TempDir(). Files are 0600 and always removed.
	TempDir string
	// RestoreTimeout is passed to raft.Restore; 0 means DefaultRestoreTimeout.
	RestoreTimeout time.Duration
	// LeaderURL, when set, turns the leader's raft ID into the URL clients
	// should use instead, for the "not the leader" error.
	LeaderURL func(id raft.ServerID) string
	// Logger receives failures that cannot be reported to the client
	// (the response was already under way); nil discards them.
	Logger *slog.Logger
}

// NewHandler returns the HTTP side of the raftsnap "raft" source: mount it
// (for example at /v1/snapshot) in a Go service that embeds hashicorp/raft
// and point a raftsnap job of kind raft at its URL.
//
// Protocol:
//
//	GET  → 200 with the archive (gzip(tar): meta.json, state.bin, SHA256SUMS),
//	       Content-Type application/gzip, Content-Length, Digest: sha-256=<base64>
//	       of the body, X-Raft-Index and X-Raft-Term of the snapshot,
//	       X-Raft-Known-Leader: true|false.
//	       Consistent by default: only the leader answers, after confirming its
//	       leadership with a quorum. ?stale=true lets any node answer.
//	PUT  → restore the archive in the body (leader only). The archive is
//	       verified completely before raft sees a byte: 400 with the
//	       verification error when it fails, 413 when the body exceeds
//	       MaxRestoreBytes, 204 with X-Raft-Index/X-Raft-Term on success.
//	Not the leader (GET without stale, PUT) → 503, plain-text body naming the
//	leader's address, or saying no leader is known.
//	HEAD → 204 with X-Raft-Leader: true|false (whether this node leads) and
//	       X-Raft-Leader-Address when a leader is known.
//	Token set and X-Raft-Token missing or wrong → 401.
//	Other methods → 405. Every error body is text/plain.
func NewHandler(r *raft.Raft, opts HandlerOptions) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	var tokenSum [sha256.Size]byte
	if opts.Token != "" {
		tokenSum = sha256.Sum256([]byte(opts.Token))
	}
	return &handler{raft: r, opts: opts, tokenSum: tokenSum}
}

type handler struct {
	raft     *raft.Raft
	opts     HandlerOptions
	tokenSum [sha256.Size]byte
}

func (h *handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if !h.authorized(req) {
		httpError(w, http.StatusUnauthorized, "missing or invalid "+HeaderToken+" header")
		return
	}
	switch req.Method {
	case http.MethodGet:
		h.save(w, req)
	case http.MethodPut:
		h.restore(w, req)
	case http.MethodHead:
		addr, _ := h.raft.LeaderWithID()
		w.Header().Set(HeaderLeader, strconv.FormatBool(h.raft.State() == raft.Leader))
		if addr != "" {
			w.Header().Set(HeaderLeaderAddress, string(addr))
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, PUT, HEAD")
		httpError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed; use GET to save or PUT to restore", req.Method))
	}
}

// authorized compares hashes so the comparison takes the same time whatever
// the length of the presented token.
func (h *handler) authorized(req *http.Request) bool {
	if h.opts.Token == "" {
		return true
	}
	got := sha256.Sum256([]byte(req.Header.Get(HeaderToken)))
	return subtle.ConstantTimeCompare(got[:], h.tokenSum[:]) == 1
}

func (h *handler) save(w http.ResponseWriter, req *http.Request) {
	stale := false
	if v := req.URL.Query().Get("stale"); v != "" {
		var err error
		if stale, err = strconv.ParseBool(v); err != nil {
			httpError(w, http.StatusBadRequest, fmt.Sprintf("invalid stale=%q: want true or false", v))
			return
		}
	}
	if !stale {
		if msg, ok := h.leaderCheck(); !ok {
			// No hint in the answer: a client names its own way to ask for
			// a stale snapshot (raftsnap: --stale or stale: true).
			httpError(w, http.StatusServiceUnavailable, msg)
			return
		}
		if err := h.raft.VerifyLeader().Error(); err != nil {
			httpError(w, http.StatusServiceUnavailable, fmt.Sprintf("cannot confirm leadership: %v", err))
			return
		}
	}

	// The archive goes to a file first: Content-Length and Digest must be
	// sent before the body.
	file, err := os.CreateTemp(h.opts.TempDir, ".raftsnap-save-*.snap")
	if err != nil {
		httpError(w, http.StatusInternalServerError, fmt.Sprintf("create temporary file: %v", err))
		return
	}
	defer func() {
		file.Close()
		os.Remove(file.Name())
	}()
	digest := sha256.New()
	meta, err := Save(h.raft, io.MultiWriter(file, digest))
	if errors.Is(err, raft.ErrNothingNewToSnapshot) {
		httpError(w, http.StatusServiceUnavailable, "nothing to snapshot yet: this node's state machine has not applied any entry")
		return
	}
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	size, err := file.Seek(0, io.SeekCurrent)
	if err == nil {
		_, err = file.Seek(0, io.SeekStart)
	}
	if err != nil {
		httpError(w, http.StatusInternalServerError, fmt.Sprintf("rewind temporary file: %v", err))
		return
	}
	leaderAddr, _ := h.raft.LeaderWithID()
	hdr := w.Header()
	hdr.Set("Content-Type", "application/gzip")
	hdr.Set("Content-Length", strconv.FormatInt(size, 10))
	hdr.Set(HeaderDigest, "sha-256="+base64.StdEncoding.EncodeToString(digest.Sum(nil)))
	hdr.Set(HeaderIndex, strconv.FormatUint(meta.Index, 10))
	hdr.Set(HeaderTerm, strconv.FormatUint(meta.Term, 10))
	hdr.Set(HeaderKnownLeader, strconv.FormatBool(leaderAddr != ""))
	w.WriteHeader(http.StatusOK)
	if n, err := io.Copy(w, file); err != nil {
		h.opts.Logger.Warn("snapshot handler: sending archive failed", "sent_bytes", n, "archive_bytes", size, "error", err)
	}
}

func (h *handler) restore(w http.ResponseWriter, req *http.Request) {
	if msg, ok := h.leaderCheck(); !ok {
		httpError(w, http.StatusServiceUnavailable, msg+"; restore must be sent to the leader")
		return
	}
	body := io.Reader(req.Body)
	limit := h.opts.MaxRestoreBytes
	if limit == 0 {
		limit = DefaultMaxRestoreBytes
	}
	if limit > 0 {
		if req.ContentLength > limit {
			httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("archive is %d bytes, limit is %d", req.ContentLength, limit))
			return
		}
		body = http.MaxBytesReader(w, req.Body, limit)
	}
	meta, err := Restore(req.Context(), h.raft, body, RestoreOptions{TempDir: h.opts.TempDir, Timeout: h.opts.RestoreTimeout})
	if err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("archive exceeds the limit of %d bytes", tooBig.Limit))
		case errors.Is(err, ErrArchiveRejected):
			httpError(w, http.StatusBadRequest, err.Error())
		case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost):
			httpError(w, http.StatusServiceUnavailable, err.Error())
		default:
			httpError(w, http.StatusInternalServerError, err.Error())
		}
		return
	}
	w.Header().Set(HeaderIndex, strconv.FormatUint(meta.Index, 10))
	w.Header().Set(HeaderTerm, strconv.FormatUint(meta.Term, 10))
	w.WriteHeader(http.StatusNoContent)
}

// leaderCheck reports whether this node is the leader, and otherwise a
// message naming the leader.
func (h *handler) leaderCheck() (string, bool) {
	if h.raft.State() == raft.Leader {
		return "", true
	}
	addr, id := h.raft.LeaderWithID()
	if addr == "" {
		return "this node is not the leader and no leader is known (no quorum or an election is in progress)", false
	}
	where := fmt.Sprintf("%s at raft address %s", id, addr)
	if h.opts.LeaderURL != nil {
		if u := h.opts.LeaderURL(id); u != "" {
			where = fmt.Sprintf("%s at %s (raft address %s)", id, u, addr)
		}
	}
	return "this node is not the leader; the leader is " + where, false
}

func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Del("Content-Length")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}
