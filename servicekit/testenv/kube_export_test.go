package testenv

// EtcdURL exposes the etcd behind a Kube to the tests, which check that it stops too.
func (k *Kube) EtcdURL() string { return k.etcdURL }
