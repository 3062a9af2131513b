package devcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftsnap/raftsnap/snapshot"
)

// KVPath is the prefix of each node's small KV API:
//
//	GET    /v1/kv/<key>  the node's local value (404 when absent)
//	PUT    /v1/kv/<key>  set to the request body, through the leader
//	DELETE /v1/kv/<key>  delete, through the leader
//	GET    /v1/kv?keys   JSON array of the node's local keys, sorted
//	GET    /v1/kv        JSON object of the node's whole local state
//
// Reads are local so tests can check what each node holds; writes are
// forwarded to the current leader so any node accepts them. Responses carry
// X-Raft-Index, the index of the last command the node applied.
const KVPath = "/v1/kv"

const maxValueBytes = 1 << 20

func (n *Node) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(SnapshotPath, snapshot.NewHandler(n.Raft, n.handlerOpts))
	mux.HandleFunc(KVPath, n.serveKVList)
	mux.HandleFunc(KVPath+"/", n.serveKV)
	return mux
}

func (c *Cluster) leaderURL(id raft.ServerID) string {
	if node := c.node(id); node != nil {
		return node.HTTPAddr
	}
	return ""
}

func (n *Node) serveKVList(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		textError(w, http.StatusMethodNotAllowed, "use GET to list keys")
		return
	}
	n.setIndex(w)
	w.Header().Set("Content-Type", "application/json")
	var body any = n.FSM.Data()
	if req.URL.Query().Has("keys") {
		body = n.FSM.Keys()
	}
	_ = json.NewEncoder(w).Encode(body)
}

func (n *Node) serveKV(w http.ResponseWriter, req *http.Request) {
	key := strings.TrimPrefix(req.URL.Path, KVPath+"/")
	if key == "" {
		textError(w, http.StatusBadRequest, "missing key: use "+KVPath+"/<key>")
		return
	}
	ctx, cancel := context.WithTimeout(req.Context(), 10*time.Second)
	defer cancel()
	switch req.Method {
	case http.MethodGet:
		value, ok := n.FSM.Get(key)
		n.setIndex(w)
		if !ok {
			textError(w, http.StatusNotFound, fmt.Sprintf("key %q not found", key))
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, value)
	case http.MethodPut:
		value, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxValueBytes))
		if err != nil {
			textError(w, http.StatusBadRequest, fmt.Sprintf("read value: %v", err))
			return
		}
		if err := n.cluster.Put(ctx, key, string(value)); err != nil {
			textError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case http.MethodDelete:
		if err := n.cluster.Delete(ctx, key); err != nil {
			textError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, PUT, DELETE")
		textError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed", req.Method))
	}
}

func (n *Node) setIndex(w http.ResponseWriter) {
	w.Header().Set("X-Raft-Index", strconv.FormatUint(n.FSM.LastIndex(), 10))
}

func textError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}
