// Package cluster lets several service instances share one database and
// answer for each other's requests (docs/scale-out.md): [Service] wraps the
// local engine so that GET, DELETE and the live progress (/events) of a
// request another instance owns work on any instance.
//
//   - Get reads the shared store (the engine already falls back to it).
//   - Watch of a request another instance follows relays its stored
//     transitions: on PostgreSQL woken by LISTEN/NOTIFY as each update
//     commits, on MariaDB/MySQL by one indexed poll of the watched requests'
//     versions every PollEvery, whatever the number of watchers.
//   - Cancel of a call another instance owns is recorded in the database
//     (callback_hangup); the owner picks it up (notified on PostgreSQL,
//     polled elsewhere) and hangs up through its own AMI link, so the
//     outcome is recorded once, by the one instance following the channels.
//
// Only the owner ever talks to Asterisk about a call: a call is never
// originated or hung up twice.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"webcallback/internal/callback"
	"webcallback/internal/callflow"
	"webcallback/internal/store"
)

// Store is what the cluster layer needs of the shared database
// ([*store.DB] is one).
type Store interface {
	GetRequest(ctx context.Context, id string) (*callback.Request, error)
	RequestVersions(ctx context.Context, ids []string) (map[string]store.RequestVersion, error)
	RequestHangup(ctx context.Context, h store.Hangup) error
	TakeHangups(ctx context.Context, instance string) ([]store.Hangup, error)
	Notifies() bool
	Listen(ctx context.Context, fn func(channel, payload string), channels ...string) error
}

// Poll intervals. Without notifications (MariaDB/MySQL) the relay and the
// hang-up picker poll at PollEvery; with them (PostgreSQL) the poll is only
// a safety net for a notification lost with a connection.
const (
	PollEvery         = 200 * time.Millisecond
	NotifiedPollEvery = 2 * time.Second
	listenRetry       = time.Second
)

// Service is the local engine seen from any instance: it implements
// callback.Service.
type Service struct {
	callback.Service // the local engine: Submit, WatchAll, Live
	st               Store
	instance         string
	log              *slog.Logger
	poll             time.Duration
	relay            *relay
	hangupWake       chan struct{}
	now              func() time.Time
	failover         *failover // nil: no leases (SQLite)

	wg sync.WaitGroup
}

// New wraps local, the engine of instance, over the shared store st.
// Run its background work with Start.
func New(local callback.Service, st Store, instance string, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	poll := PollEvery
	if st.Notifies() {
		poll = NotifiedPollEvery
	}
	log = log.With("component", "cluster")
	return &Service{
		Service: local, st: st, instance: instance, log: log, poll: poll,
		relay:      newRelay(st, log),
		hangupWake: make(chan struct{}, 1),
		now:        time.Now,
	}
}

// Start runs the relay, the hang-up picker and (PostgreSQL) the listener
// until ctx ends; Wait joins them.
func (c *Service) Start(ctx context.Context) {
	c.wg.Add(2)
	go func() { defer c.wg.Done(); c.relay.run(ctx, c.poll) }()
	go func() { defer c.wg.Done(); c.pickHangups(ctx) }()
	if c.failover != nil {
		c.wg.Add(1)
		go func() { defer c.wg.Done(); c.runFailover(ctx) }()
	}
	if c.st.Notifies() {
		c.wg.Add(1)
		go func() { defer c.wg.Done(); c.listen(ctx) }()
	}
}

// Wait returns once the work Start began has stopped (after ctx ended).
func (c *Service) Wait() { c.wg.Wait() }

// Watch follows id: through the local engine when this instance owns it
// (or it is final), else through the relay of its stored transitions.
func (c *Service) Watch(ctx context.Context, id string) (<-chan *callback.Request, func(), error) {
	r, err := c.Service.Get(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if r.State.Final() || r.Instance == c.instance {
		return c.Service.Watch(ctx, id)
	}
	ch, stop := c.relay.watch(r)
	return ch, stop, nil
}

// Cancel ends id: the local engine's Cancel for its own calls; for a call
// another instance owns, the same checks on the stored state, then a
// hang-up request the owner carries out.
func (c *Service) Cancel(ctx context.Context, id string, by callback.Reason) error {
	err := c.Service.Cancel(ctx, id, by)
	var elsewhere *callflow.NotOwnerError
	if !errors.As(err, &elsewhere) {
		return err
	}
	r, err := c.st.GetRequest(ctx, id)
	switch {
	case err != nil:
		return fmt.Errorf("cluster: cancel %s: %w", id, err)
	case r.State.Final():
		return callback.ErrFinal
	}
	if err := c.st.RequestHangup(ctx, store.Hangup{RequestID: id, By: by, At: c.now()}); err != nil {
		return fmt.Errorf("cluster: cancel %s: %w", id, err)
	}
	c.log.Info("cancel passed to the owning instance", "id", id, "owner", r.Instance, "by", by)
	return nil
}

// pickHangups carries out the hang-ups other instances recorded for this
// instance's calls.
func (c *Service) pickHangups(ctx context.Context) {
	tick := time.NewTicker(c.poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-c.hangupWake:
		}
		hs, err := c.st.TakeHangups(ctx, c.instance)
		if err != nil {
			if ctx.Err() == nil {
				c.log.Warn("reading hang-up requests", "err", err)
			}
			continue
		}
		for _, h := range hs {
			err := c.Service.Cancel(ctx, h.RequestID, h.By)
			if err != nil && !errors.Is(err, callback.ErrFinal) {
				c.log.Warn("hang-up asked by another instance", "id", h.RequestID, "by", h.By, "err", err)
				continue
			}
			c.log.Info("hang-up asked by another instance", "id", h.RequestID, "by", h.By)
		}
	}
}

// listen turns PostgreSQL notifications into wake-ups of the relay and of
// the hang-up picker, listening again after a lost connection (and then
// waking both: notifications may have been missed meanwhile).
func (c *Service) listen(ctx context.Context) {
	for {
		err := c.st.Listen(ctx, func(channel, payload string) {
			switch channel {
			case store.ChannelRequest:
				c.relay.notify(payload)
			case store.ChannelHangup:
				if payload == c.instance {
					wake(c.hangupWake)
				}
			}
		}, store.ChannelRequest, store.ChannelHangup)
		if ctx.Err() != nil {
			return
		}
		c.log.Warn("database notifications lost; listening again", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(listenRetry):
		}
		c.relay.notify("")
		wake(c.hangupWake)
	}
}

// wake sends a coalescing signal.
func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

var _ callback.Service = (*Service)(nil)
