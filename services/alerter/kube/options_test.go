package kube_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/services/alerter/kube"
)

func TestOptions(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		badFlag  string // "" = valid
		wantOpts kube.Options
	}{
		{name: "defaults", wantOpts: kube.Options{Enabled: true, QPS: kube.DefaultQPS, Burst: kube.DefaultBurst, Heartbeat: kube.DefaultHeartbeat}},
		{name: "set", args: []string{"--kube-exporter=false", "--kubeconfig=/k", "--kube-qps=5.5", "--kube-burst=7", "--condition-heartbeat=30s"},
			wantOpts: kube.Options{Kubeconfig: "/k", QPS: 5.5, Burst: 7, Heartbeat: 30 * time.Second}},
		{name: "from env", env: map[string]string{"NW_KUBE_EXPORTER": "false", "NW_CONDITION_HEARTBEAT": "1m"},
			wantOpts: kube.Options{QPS: kube.DefaultQPS, Burst: kube.DefaultBurst, Heartbeat: time.Minute}},
		{name: "zero qps", args: []string{"--kube-qps=0"}, badFlag: "kube-qps"},
		{name: "negative qps", args: []string{"--kube-qps=-1"}, badFlag: "kube-qps"},
		{name: "zero burst", args: []string{"--kube-burst=0"}, badFlag: "kube-burst"},
		{name: "zero heartbeat", args: []string{"--condition-heartbeat=0s"}, badFlag: "condition-heartbeat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o kube.Options
			fs := flag.NewFlagSet("alerter", flag.ContinueOnError)
			o.AddFlags(fs)
			lookup := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			if _, err := config.ParseWithEnv(fs, tt.args, lookup); err != nil {
				t.Fatal(err)
			}
			err := o.Validate()
			var ce *config.Error
			switch {
			case tt.badFlag == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.badFlag == "":
				if o != tt.wantOpts {
					t.Errorf("options %+v, want %+v", o, tt.wantOpts)
				}
			case !errors.As(err, &ce) || ce.Flag != tt.badFlag:
				t.Errorf("Validate = %v, want a config error naming --%s", err, tt.badFlag)
			}
		})
	}
}

func TestClientOff(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	tests := []struct {
		name    string
		opts    kube.Options
		wantErr bool
	}{
		{name: "disabled", opts: kube.Options{Enabled: false, Kubeconfig: "/does/not/exist"}},
		{name: "no kubeconfig, not in a cluster", opts: kube.Options{Enabled: true}},
		{name: "missing kubeconfig", opts: kube.Options{Enabled: true, Kubeconfig: "/does/not/exist"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.opts.Client()
			if tt.wantErr {
				if !config.IsConfigError(err) {
					t.Errorf("Client() error = %v, want a config error", err)
				}
				return
			}
			if err != nil || c != nil {
				t.Errorf("Client() = %v, %v; want nil, nil", c, err)
			}
		})
	}
}

func TestRetryable(t *testing.T) {
	gr := schema.GroupResource{Resource: "nodes"}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"conflict", apierrors.NewConflict(gr, "n", errors.New("changed")), true},
		{"server timeout", apierrors.NewServerTimeout(gr, "patch", 1), true},
		{"too many requests", apierrors.NewTooManyRequests("slow down", 1), true},
		{"unavailable", apierrors.NewServiceUnavailable("starting"), true},
		{"internal", apierrors.NewInternalError(errors.New("etcd")), true},
		{"transport", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{"wrapped conflict", fmt.Errorf("patch: %w", apierrors.NewConflict(gr, "n", errors.New("x"))), true},
		{"forbidden", apierrors.NewForbidden(gr, "n", errors.New("rbac")), false},
		{"not found", apierrors.NewNotFound(gr, "n"), false},
		{"invalid", apierrors.NewBadRequest("bad patch"), false},
		{"canceled", fmt.Errorf("wait: %w", context.Canceled), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := kube.Retryable(tt.err); got != tt.want {
				t.Errorf("Retryable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
