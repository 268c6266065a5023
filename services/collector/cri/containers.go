package cri

import (
	"context"
	"fmt"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Labels kubelet puts on every container; used when a container's sandbox is not listed (it
// raced with the list) or a runtime leaves a field empty.
const (
	labelPodName       = "io.kubernetes.pod.name"
	labelPodNamespace  = "io.kubernetes.pod.namespace"
	labelPodUID        = "io.kubernetes.pod.uid"
	labelContainerName = "io.kubernetes.container.name"
)

// Meta are the names behind one container id.
type Meta struct {
	Name      string // container name in the pod spec
	PodName   string
	Namespace string
	PodUID    string
	Image     string // as the user wrote it where the runtime knows it, else a repo tag, else the image id
}

// Containers returns the metadata of every container the runtime knows (running or not), keyed by
// full container id. It lists again only when the cached map is older than the TTL, or after
// Invalidate once the minimum refresh interval has passed. The map is shared and must not be
// modified; it is replaced, never changed, so reading it while another call refreshes is safe.
// When listing fails, the last good map (nil before the first) is returned with the error, and
// the failure is reused until the minimum refresh interval has passed so that a hung runtime
// costs one timeout per interval, not one per call.
func (c *Client) Containers(ctx context.Context) (map[string]Meta, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if !c.attempted.IsZero() {
		sinceAttempt := now.Sub(c.attempted)
		switch {
		case c.lastErr != nil && sinceAttempt < c.minRefresh:
			return c.meta, c.lastErr
		case c.lastErr == nil && c.invalidated && sinceAttempt < c.minRefresh:
			return c.meta, nil
		case c.lastErr == nil && !c.invalidated && now.Sub(c.fetched) < c.ttl:
			return c.meta, nil
		}
	}
	c.attempted = now
	meta, err := c.list(ctx)
	if err != nil {
		c.lastErr = err
		return c.meta, err
	}
	c.meta, c.fetched, c.lastErr, c.invalidated = meta, now, nil, false
	return meta, nil
}

// Invalidate asks the next Containers call to list again (no sooner than the minimum refresh
// interval after the last list): the caller found a container id the map does not hold.
func (c *Client) Invalidate() {
	c.mu.Lock()
	c.invalidated = true
	c.mu.Unlock()
}

// list asks the runtime for sandboxes and containers (and images, when a container names its
// image only by id) and joins them.
func (c *Client) list(ctx context.Context) (map[string]Meta, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	pods, err := c.runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return nil, fmt.Errorf("cri list pod sandboxes %s: %w", c.socket, err)
	}
	ctrs, err := c.runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		return nil, fmt.Errorf("cri list containers %s: %w", c.socket, err)
	}
	var tags map[string]string
	if needImages(ctrs.GetContainers()) {
		imgs, err := c.images.ListImages(ctx, &runtimeapi.ListImagesRequest{})
		if err != nil {
			return nil, fmt.Errorf("cri list images %s: %w", c.socket, err)
		}
		tags = repoTags(imgs.GetImages())
	}
	return join(pods.GetItems(), ctrs.GetContainers(), tags), nil
}

// join builds the metadata map from the three lists.
func join(pods []*runtimeapi.PodSandbox, ctrs []*runtimeapi.Container, tags map[string]string) map[string]Meta {
	byID := make(map[string]*runtimeapi.PodSandboxMetadata, len(pods))
	for _, p := range pods {
		if p.GetMetadata() != nil {
			byID[p.GetId()] = p.GetMetadata()
		}
	}
	out := make(map[string]Meta, len(ctrs))
	for _, ct := range ctrs {
		if ct.GetId() == "" {
			continue
		}
		labels := ct.GetLabels()
		m := Meta{
			Name:      firstNonEmpty(ct.GetMetadata().GetName(), labels[labelContainerName]),
			PodName:   labels[labelPodName],
			Namespace: labels[labelPodNamespace],
			PodUID:    labels[labelPodUID],
			Image:     imageName(ct, tags),
		}
		if p, ok := byID[ct.GetPodSandboxId()]; ok {
			m.PodName = firstNonEmpty(p.GetName(), m.PodName)
			m.Namespace = firstNonEmpty(p.GetNamespace(), m.Namespace)
			m.PodUID = firstNonEmpty(p.GetUid(), m.PodUID)
		}
		out[ct.GetId()] = m
	}
	return out
}

// imageName picks the most readable image name: kubelet passes the image id as Image.Image and
// the pod spec's image as UserSpecifiedImage (kubelet 1.29+, runtimes that keep it); older
// runtimes return only the id, which a repo tag from ListImages replaces.
func imageName(ct *runtimeapi.Container, tags map[string]string) string {
	spec := ct.GetImage()
	if s := spec.GetUserSpecifiedImage(); s != "" {
		return s
	}
	img := spec.GetImage()
	if img == "" {
		img = ct.GetImageRef()
	}
	if isImageID(img) {
		if t, ok := tags[img]; ok {
			return t
		}
		if t, ok := tags[ct.GetImageRef()]; ok {
			return t
		}
	}
	return img
}

// needImages tells whether some container names its image only by id.
func needImages(ctrs []*runtimeapi.Container) bool {
	for _, ct := range ctrs {
		if ct.GetImage().GetUserSpecifiedImage() == "" && isImageID(firstNonEmpty(ct.GetImage().GetImage(), ct.GetImageRef())) {
			return true
		}
	}
	return false
}

// repoTags maps image ids and digests to the image's first repo tag (or digest when untagged).
func repoTags(imgs []*runtimeapi.Image) map[string]string {
	out := make(map[string]string, len(imgs))
	for _, im := range imgs {
		name := ""
		if len(im.GetRepoTags()) > 0 {
			name = im.GetRepoTags()[0]
		} else if len(im.GetRepoDigests()) > 0 {
			name = im.GetRepoDigests()[0]
		}
		if name == "" {
			continue
		}
		out[im.GetId()] = name
		for _, d := range im.GetRepoDigests() {
			out[d] = name
		}
	}
	return out
}

// isImageID tells an image id ("sha256:<hex>") from a name a user wrote.
func isImageID(s string) bool { return strings.HasPrefix(s, "sha256:") }

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
