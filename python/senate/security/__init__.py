"""Who may talk to a node: certificates and TLS for peers and clients.

* `senate.security.tls_files`: `TlsFiles`, the PEM files of one node (the cluster's CA, the
  node's certificate and key), and the name a node's certificate carries for its id;
* `senate.security.certs`: a CA and node certificates for a cluster (`senate certs`, and
  `senate cluster --tls` for a throwaway local one), made with `cryptography`.
"""
