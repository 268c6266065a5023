// Package slackfake is a test Slack: an httptest server speaking the incoming-webhook contract
// (POST JSON, 200 "ok") and chat.postMessage (form or JSON body with token, channel, text and
// blocks; {"ok":true,"ts":...}), plus a plain endpoint for shoutrrr's generic webhooks. It
// records every accepted message with its Block Kit decoded, and can answer the next requests
// with 429 + Retry-After or another failure, as Slack's rate limiter and outages do. The sink's
// tests and the end-to-end tests share it.
package slackfake

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	goslack "github.com/slack-go/slack"
)

// Paths of the endpoints.
const (
	WebhookPath = "/services/T000/B000/XXXXXXXX"
	APIPath     = "/api/"
	NotifyPath  = "/notify"
)

// Message is one accepted post.
type Message struct {
	Via      string // "webhook", "api" or "notify"
	Channel  string
	Username string
	Text     string
	Blocks   []goslack.Block
	At       time.Time
}

// Server is the fake. Its zero value is not usable; call New.
type Server struct {
	*httptest.Server
	// Token, when set, is the bot token chat.postMessage requires.
	Token string

	mu       sync.Mutex
	msgs     []Message
	requests int
	failures []failure
}

type failure struct {
	status     int
	retryAfter string
	apiError   string
}

// New starts a fake Slack on a loopback port; Close stops it.
func New() *Server {
	s := &Server{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+WebhookPath, s.webhook)
	mux.HandleFunc("POST "+APIPath+"chat.postMessage", s.postMessage)
	mux.HandleFunc("POST "+NotifyPath, s.notify)
	s.Server = httptest.NewServer(mux)
	return s
}

// WebhookURL is the incoming webhook's URL.
func (s *Server) WebhookURL() string { return s.URL + WebhookPath }

// APIURL is the Web API base, for slack-go's OptionAPIURL.
func (s *Server) APIURL() string { return s.URL + APIPath }

// NotifyURL is a shoutrrr generic-webhook URL that posts to the fake.
func (s *Server) NotifyURL() string {
	return "generic://" + strings.TrimPrefix(s.URL, "http://") + NotifyPath + "?disabletls=yes"
}

// RateLimit answers the next n requests with 429 and Retry-After (whole seconds; 0 = no header).
func (s *Server) RateLimit(n int, retryAfter time.Duration) {
	ra := ""
	if retryAfter > 0 {
		ra = strconv.Itoa(int(retryAfter.Round(time.Second) / time.Second))
	}
	s.queue(n, failure{status: http.StatusTooManyRequests, retryAfter: ra, apiError: "ratelimited"})
}

// Fail answers the next n requests with status (the Web API with {"ok":false,"error":apiError}
// when status is 200).
func (s *Server) Fail(n, status int, apiError string) {
	s.queue(n, failure{status: status, apiError: apiError})
}

func (s *Server) queue(n int, f failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, f)
	}
}

// Messages returns the accepted posts in arrival order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Requests counts every request, failed or not.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// nextFailure counts the request and pops the failure it is to get, if any.
func (s *Server) nextFailure() *failure {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if len(s.failures) == 0 {
		return nil
	}
	f := s.failures[0]
	s.failures = s.failures[1:]
	return &f
}

func (s *Server) record(m Message) {
	m.At = time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
}

func (s *Server) webhook(w http.ResponseWriter, r *http.Request) {
	if f := s.nextFailure(); f != nil {
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		body := "rate_limited"
		if f.status != http.StatusTooManyRequests {
			body = f.apiError
		}
		http.Error(w, body, f.status)
		return
	}
	var wm goslack.WebhookMessage
	if err := json.NewDecoder(r.Body).Decode(&wm); err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	if wm.Text == "" && wm.Blocks == nil {
		http.Error(w, "no_text", http.StatusBadRequest)
		return
	}
	m := Message{Via: "webhook", Channel: wm.Channel, Username: wm.Username, Text: wm.Text}
	if wm.Blocks != nil {
		m.Blocks = wm.Blocks.BlockSet
	}
	s.record(m)
	_, _ = io.WriteString(w, "ok")
}

// postMessage takes chat.postMessage as slack-go sends it (a form) or as JSON.
func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) {
	if f := s.nextFailure(); f != nil {
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		if f.status == http.StatusOK || f.status == http.StatusTooManyRequests {
			apiReply(w, f.status, map[string]any{"ok": false, "error": f.apiError})
			return
		}
		http.Error(w, f.apiError, f.status)
		return
	}
	var in struct {
		Token    string          `json:"token"`
		Channel  string          `json:"channel"`
		Text     string          `json:"text"`
		Username string          `json:"username"`
		Blocks   json.RawMessage `json:"blocks"`
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			apiReply(w, http.StatusOK, map[string]any{"ok": false, "error": "invalid_json"})
			return
		}
	} else {
		if err := r.ParseForm(); err != nil {
			apiReply(w, http.StatusOK, map[string]any{"ok": false, "error": "invalid_form_data"})
			return
		}
		in.Token, in.Channel, in.Text, in.Username = r.PostForm.Get("token"), r.PostForm.Get("channel"), r.PostForm.Get("text"), r.PostForm.Get("username")
		if b := r.PostForm.Get("blocks"); b != "" {
			in.Blocks = json.RawMessage(b)
		}
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && in.Token == "" {
		in.Token = tok
	}
	switch {
	case in.Token == "" || (s.Token != "" && in.Token != s.Token):
		apiReply(w, http.StatusOK, map[string]any{"ok": false, "error": "invalid_auth"})
		return
	case in.Channel == "":
		apiReply(w, http.StatusOK, map[string]any{"ok": false, "error": "channel_not_found"})
		return
	case in.Text == "" && len(in.Blocks) == 0:
		apiReply(w, http.StatusOK, map[string]any{"ok": false, "error": "no_text"})
		return
	}
	m := Message{Via: "api", Channel: in.Channel, Username: in.Username, Text: in.Text}
	if len(in.Blocks) > 0 {
		var bs goslack.Blocks
		if err := json.Unmarshal(in.Blocks, &bs); err != nil {
			apiReply(w, http.StatusOK, map[string]any{"ok": false, "error": "invalid_blocks"})
			return
		}
		m.Blocks = bs.BlockSet
	}
	s.record(m)
	s.mu.Lock()
	ts := fmt.Sprintf("%d.%06d", time.Now().Unix(), len(s.msgs))
	s.mu.Unlock()
	apiReply(w, http.StatusOK, map[string]any{"ok": true, "channel": in.Channel, "ts": ts})
}

// notify records a generic webhook's body as the text.
func (s *Server) notify(w http.ResponseWriter, r *http.Request) {
	if f := s.nextFailure(); f != nil {
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		http.Error(w, f.apiError, f.status)
		return
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	text := string(b)
	// template=json sends {"message": ...}.
	var j struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &j) == nil && j.Message != "" {
		text = j.Message
	}
	s.record(Message{Via: "notify", Text: text})
	w.WriteHeader(http.StatusOK)
}

func apiReply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Fields returns the text of a section block's fields, by their bold label ("*Node*\nnode-1" →
// "Node": "node-1"), merged over all sections of m.
func (m Message) Fields() map[string]string {
	out := map[string]string{}
	for _, b := range m.Blocks {
		sb, ok := b.(*goslack.SectionBlock)
		if !ok {
			continue
		}
		for _, f := range sb.Fields {
			label, value, ok := strings.Cut(f.Text, "\n")
			if ok {
				out[strings.Trim(label, "*")] = value
			}
		}
	}
	return out
}

// Header is the text of m's header block, or "".
func (m Message) Header() string {
	for _, b := range m.Blocks {
		if h, ok := b.(*goslack.HeaderBlock); ok && h.Text != nil {
			return h.Text.Text
		}
	}
	return ""
}

// Sections are the texts of m's section blocks.
func (m Message) Sections() []string {
	var out []string
	for _, b := range m.Blocks {
		if sb, ok := b.(*goslack.SectionBlock); ok && sb.Text != nil {
			out = append(out, sb.Text.Text)
		}
	}
	return out
}
