package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The operations of TestNATSAuthMatrix, each made the way the services' code makes it, and
// attempt, which tells whether the server allowed one.

// client is one user's connection. violations receives every permissions violation the server
// reports on it; nats.go reports them asynchronously, not as the failing call's error.
type client struct {
	user       string
	nc         *nats.Conn
	js         jetstream.JetStream
	violations chan error
}

func dial(url, user, password string) (*client, error) {
	c := &client{user: user, violations: make(chan error, 64)}
	nc, err := nats.Connect(url, nats.UserInfo(user, password), nats.Name("natsauth-"+user),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrPermissionViolation) {
				select {
				case c.violations <- err:
				default: // one is enough to know
				}
			}
		}))
	if err != nil {
		return nil, fmt.Errorf("connect as %s: %w", user, err)
	}
	c.nc = nc
	if c.js, err = jetstream.New(nc); err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream as %s: %w", user, err)
	}
	return c, nil
}

// violation is a permissions violation reported so far, or nil. The flush first makes sure the
// server has answered everything sent: it reports a violation before the PONG, and nats.go
// records it (LastError) before the flush returns.
func (c *client) violation() error {
	_ = c.nc.FlushTimeout(2 * time.Second)
	if err := c.nc.LastError(); errors.Is(err, nats.ErrPermissionViolation) {
		return err
	}
	select {
	case err := <-c.violations:
		return err
	default:
		return nil
	}
}

// op is one operation, made on u's connection; admin prepares what it needs (a message to
// fetch, a consumer to pull from) on its own connection, outside what is being tried.
type op func(ctx context.Context, u, admin *client) error

// verdict is what the server did with an operation.
type verdict string

const (
	allowed verdict = "allowed"
	denied  verdict = "denied"
	failed  verdict = "failed" // an error that is not a permissions violation: a broken test
)

// opTimeout bounds one operation; a denied one ends as soon as its violation arrives.
const opTimeout = 5 * time.Second

// attempt runs o as user on a connection of its own, so a violation is this operation's.
// Denied means the server reported a permissions violation; allowed means the operation
// succeeded without one.
func attempt(url, user, password string, admin *client, o op) (verdict, string) {
	u, err := dial(url, user, password)
	if err != nil {
		return failed, err.Error()
	}
	defer u.nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- o(ctx, u, admin) }()
	select {
	case v := <-u.violations:
		cancel()
		<-done
		return denied, v.Error()
	case err := <-done:
		if v := u.violation(); v != nil {
			return denied, v.Error()
		}
		if err != nil {
			return failed, err.Error()
		}
		return allowed, ""
	}
}

// jsPublish publishes a message on subj and waits for the stream's ack.
func jsPublish(subj string) op {
	return func(ctx context.Context, u, _ *client) error {
		_, err := u.js.Publish(ctx, subj, []byte("natsauth"))
		return err
	}
}

// subscribe subscribes to subj (a core subscription: what reading a subject straight off the bus
// would need).
func subscribe(subj string) op {
	return func(ctx context.Context, u, _ *client) error {
		sub, err := u.nc.SubscribeSync(subj)
		if err != nil {
			return err
		}
		defer sub.Unsubscribe()
		return u.nc.FlushWithContext(ctx)
	}
}

// apiCall makes a raw JetStream API request and fails on an error in the response.
func apiCall(ctx context.Context, c *client, subj string, req any) (map[string]any, error) {
	var body []byte
	if req != nil {
		var err error
		if body, err = json.Marshal(req); err != nil {
			return nil, err
		}
	}
	msg, err := c.nc.RequestWithContext(ctx, subj, body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", subj, err)
	}
	var resp map[string]any
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return nil, fmt.Errorf("%s: response %q: %w", subj, msg.Data, err)
	}
	if e, ok := resp["error"]; ok {
		return nil, fmt.Errorf("%s: %v", subj, e)
	}
	return resp, nil
}

// api is a raw JetStream API request with an optional body.
func api(subj string, req any) op {
	return func(ctx context.Context, u, _ *client) error {
		_, err := apiCall(ctx, u, subj, req)
		return err
	}
}

func streamInfo(stream string) op {
	return func(ctx context.Context, u, _ *client) error {
		_, err := u.js.Stream(ctx, stream)
		return err
	}
}

// directGet asks SAMPLES for a subject's last message the direct way. SAMPLES is provisioned
// without allow_direct, so nobody answers: a request the server let through comes back "no
// responders", a denied one as a violation.
func directGet(ctx context.Context, u, _ *client) error {
	_, err := u.nc.RequestWithContext(ctx, "$JS.API.DIRECT.GET.SAMPLES.nw.sample.container.n1", nil)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil
	}
	return err
}

// publishAs publishes one message on subj as c and waits for its ack.
func publishAs(ctx context.Context, c *client, subj string) error {
	_, err := c.js.Publish(ctx, subj, []byte("natsauth"))
	return err
}

// fed is o after admin published a message on feed.
func fed(feed string, o op) op {
	return func(ctx context.Context, u, admin *client) error {
		if err := publishAs(ctx, admin, feed); err != nil {
			return err
		}
		return o(ctx, u, admin)
	}
}

// durable creates (or updates) a durable pull consumer as servicekit/consume does, fetches one
// message from it and acknowledges it; admin first publishes the message, on feed.
func durable(stream, name, feed string, filters ...string) op {
	return func(ctx context.Context, u, admin *client) error {
		if err := publishAs(ctx, admin, feed); err != nil {
			return err
		}
		cons, err := u.js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
			Durable: name, FilterSubjects: filters, AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: -1})
		if err != nil {
			return err
		}
		return fetchAck(ctx, cons)
	}
}

func fetchAck(ctx context.Context, cons jetstream.Consumer) error {
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		return err
	}
	n := 0
	for m := range batch.Messages() {
		n++
		if err := m.DoubleAck(ctx); err != nil {
			return fmt.Errorf("ack: %w", err)
		}
	}
	if err := batch.Error(); err != nil {
		return err
	}
	if n == 0 {
		return errors.New("fetched no message")
	}
	return nil
}

// ensureDurable makes admin create a durable and publish a message for it.
func ensureDurable(ctx context.Context, admin *client, stream, name, feed string, filters ...string) (jetstream.Consumer, error) {
	cons, err := admin.js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable: name, FilterSubjects: filters, AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: -1})
	if err != nil {
		return nil, err
	}
	return cons, publishAs(ctx, admin, feed)
}

// pullOther pulls one message from a durable that already exists (admin made it), with the raw
// CONSUMER.MSG.NEXT request: what taking another service's deliveries would need.
func pullOther(stream, name, feed string, filters ...string) op {
	return func(ctx context.Context, u, admin *client) error {
		if _, err := ensureDurable(ctx, admin, stream, name, feed, filters...); err != nil {
			return err
		}
		inbox := u.nc.NewInbox()
		sub, err := u.nc.SubscribeSync(inbox)
		if err != nil {
			return err
		}
		defer sub.Unsubscribe()
		req, _ := json.Marshal(map[string]any{"batch": 1, "expires": (2 * time.Second).Nanoseconds()})
		if err := u.nc.PublishRequest("$JS.API.CONSUMER.MSG.NEXT."+stream+"."+name, inbox, req); err != nil {
			return err
		}
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return err
		}
		if st := m.Header.Get("Status"); st != "" {
			return fmt.Errorf("pull %s: status %s %s", name, st, m.Header.Get("Description"))
		}
		return nil
	}
}

// ackOther acknowledges a delivery that admin fetched from a durable: what settling another
// service's messages (seen on a shared _INBOX) would need.
func ackOther(stream, name, feed string, filters ...string) op {
	return func(ctx context.Context, u, admin *client) error {
		cons, err := ensureDurable(ctx, admin, stream, name, feed, filters...)
		if err != nil {
			return err
		}
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return err
		}
		m, ok := <-batch.Messages()
		if !ok {
			return fmt.Errorf("admin fetched nothing from %s: %v", name, batch.Error())
		}
		_, err = u.nc.RequestWithContext(ctx, m.Reply(), []byte("+ACK"))
		return err
	}
}

// ordered reads one message with an ordered pull consumer, as the sink's Prometheus feed does
// (Consume: a Fetch would replace the consumer, deleting the old one, on every call).
func ordered(stream, feed string, filters ...string) op {
	return func(ctx context.Context, u, admin *client) error {
		if err := publishAs(ctx, admin, feed); err != nil {
			return err
		}
		oc, err := u.js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
			FilterSubjects: filters, DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy})
		if err != nil {
			return err
		}
		got := make(chan struct{}, 1)
		cc, err := oc.Consume(func(jetstream.Msg) {
			select {
			case got <- struct{}{}:
			default:
			}
		})
		if err != nil {
			return err
		}
		defer cc.Stop()
		select {
		case <-got:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("no message from an ordered consumer on %s: %w", stream, ctx.Err())
		}
	}
}

const kvKey = "natsauth.key"

// kvOp opens a bucket as the services do (js.KeyValue) after admin wrote kvKey in it, then does
// one thing with it.
func kvOp(bucket string, do func(ctx context.Context, kv jetstream.KeyValue) error) op {
	return func(ctx context.Context, u, admin *client) error {
		akv, err := admin.js.KeyValue(ctx, bucket)
		if err != nil {
			return err
		}
		if _, err := akv.Put(ctx, kvKey, []byte("v")); err != nil {
			return err
		}
		kv, err := u.js.KeyValue(ctx, bucket)
		if err != nil {
			return err
		}
		return do(ctx, kv)
	}
}

func kvGet(bucket string) op {
	return kvOp(bucket, func(ctx context.Context, kv jetstream.KeyValue) error {
		_, err := kv.Get(ctx, kvKey)
		return err
	})
}

func kvPut(bucket string) op {
	return kvOp(bucket, func(ctx context.Context, kv jetstream.KeyValue) error {
		_, err := kv.Put(ctx, kvKey, []byte("w"))
		return err
	})
}

func kvDelete(bucket string) op {
	return kvOp(bucket, func(ctx context.Context, kv jetstream.KeyValue) error {
		return kv.Delete(ctx, kvKey)
	})
}

// kvWatch watches the whole bucket until the initial values are in, then stops the watch
// (which deletes its consumer), as a key listing does.
func kvWatch(bucket string) op {
	return kvOp(bucket, func(ctx context.Context, kv jetstream.KeyValue) error {
		w, err := kv.WatchAll(ctx)
		if err != nil {
			return err
		}
		n := 0
		for {
			select {
			case e := <-w.Updates():
				if e != nil {
					n++
					continue
				}
				if n == 0 {
					_ = w.Stop()
					return errors.New("watch: no initial value")
				}
				return w.Stop()
			case <-ctx.Done():
				_ = w.Stop()
				return ctx.Err()
			}
		}
	})
}

// streamUpdate sends a stream's own configuration back: a change of nothing, which only the
// permission decides.
func streamUpdate(stream string) op {
	return func(ctx context.Context, u, admin *client) error {
		st, err := admin.js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		_, err = u.js.UpdateStream(ctx, st.CachedInfo().Config)
		return err
	}
}
