package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// AMAlert is an alert as Alertmanager's API v2 lists it.
type AMAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	UpdatedAt   time.Time         `json:"updatedAt"`
	Status      struct {
		State       string   `json:"state"` // active, suppressed, unprocessed
		SilencedBy  []string `json:"silencedBy"`
		InhibitedBy []string `json:"inhibitedBy"`
	} `json:"status"`
}

// amClient talks to Alertmanager's API v2 over plain HTTP: the scenarios need three calls,
// and JSON keeps them readable in a failure message.
var amClient = &http.Client{Timeout: 10 * time.Second}

// Alerts lists Alertmanager's alerts (active, silenced and inhibited ones alike).
func (e *Env) Alerts() ([]AMAlert, error) {
	resp, err := amClient.Get(e.Alertmanager.URL + "/api/v2/alerts")
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("list alerts: %s: %s", resp.Status, body)
	}
	var out []AMAlert
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("decode alerts: %w", err)
	}
	return out, nil
}

// FindAlert returns the first alert whose labels include every one of labels.
func (e *Env) FindAlert(labels map[string]string) (AMAlert, bool) {
	alerts, err := e.Alerts()
	if err != nil {
		e.T.Logf("harness: %v", err)
		return AMAlert{}, false
	}
	for _, a := range alerts {
		match := true
		for k, v := range labels {
			if a.Labels[k] != v {
				match = false
				break
			}
		}
		if match {
			return a, true
		}
	}
	return AMAlert{}, false
}

// PostAlert posts a firing alert with labels to Alertmanager, as a Prometheus would, ending
// at endsAt unless posted again.
func (e *Env) PostAlert(labels map[string]string, endsAt time.Time) error {
	body, err := json.Marshal([]map[string]any{{"labels": labels, "startsAt": time.Now().UTC(), "endsAt": endsAt.UTC()}})
	if err != nil {
		return err
	}
	_, err = e.amPost("/api/v2/alerts", body)
	return err
}

// Silence silences alerts whose labels equal matchers for d, and returns the silence's id.
func (e *Env) Silence(matchers map[string]string, d time.Duration) (string, error) {
	type matcher struct {
		Name    string `json:"name"`
		Value   string `json:"value"`
		IsRegex bool   `json:"isRegex"`
		IsEqual bool   `json:"isEqual"`
	}
	var ms []matcher
	for k, v := range matchers {
		ms = append(ms, matcher{Name: k, Value: v, IsEqual: true})
	}
	now := time.Now().UTC()
	body, err := json.Marshal(map[string]any{"matchers": ms, "startsAt": now, "endsAt": now.Add(d),
		"createdBy": "e2e", "comment": "e2e scenario"})
	if err != nil {
		return "", err
	}
	out, err := e.amPost("/api/v2/silences", body)
	if err != nil {
		return "", err
	}
	var reply struct {
		SilenceID string `json:"silenceID"`
	}
	if err := json.Unmarshal(out, &reply); err != nil {
		return "", fmt.Errorf("decode silence reply %q: %w", out, err)
	}
	return reply.SilenceID, nil
}

func (e *Env) amPost(path string, body []byte) ([]byte, error) {
	resp, err := amClient.Post(e.Alertmanager.URL+path, "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("POST %s: %s: %s", path, resp.Status, out)
	}
	return out, nil
}
