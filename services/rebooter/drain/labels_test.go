package drain_test

import (
	"maps"
	"testing"

	"github.com/nodewarden/nodewarden/services/rebooter/drain"
)

func TestParseLabels(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    map[string]string
		wantErr bool
	}{
		{name: "empty", in: nil, want: map[string]string{}},
		{name: "equals in value", in: []string{"a=1", "c=x=y"}, wantErr: true},
		{name: "prefixed and empty value", in: []string{"a=1", "example.com/b="}, want: map[string]string{"a": "1", "example.com/b": ""}},
		{name: "later wins", in: []string{"a=1", "a=2"}, want: map[string]string{"a": "2"}},
		{name: "no equals", in: []string{"rebooting"}, wantErr: true},
		{name: "bad key", in: []string{"-a=1"}, wantErr: true},
		{name: "bad value", in: []string{"a=has space"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := drain.ParseLabels(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseLabels(%q) error = %v, want error %t", tc.in, err, tc.wantErr)
			}
			if !tc.wantErr && !maps.Equal(got, tc.want) {
				t.Errorf("ParseLabels(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestNewRejectsBadSelector(t *testing.T) {
	if _, err := drain.New(nil, "n", drain.Options{PodSelector: "app in (web"}); err == nil {
		t.Error("New with pod selector \"app in (web\" succeeded")
	}
	if _, err := drain.New(nil, "", drain.Options{}); err == nil {
		t.Error("New with no node succeeded")
	}
}
