"""Who may talk to a node: certificates and TLS for peers and clients.

* `senate.security.tls_files`: `TlsFiles`, the PEM files of one node (the cluster's CA, the
  node's certificate and key), and the name a node's certificate carries for its id;
* `senate.security.certs`: a CA and node certificates for a cluster (`senate certs`, and
  `senate cluster --tls` for a throwaway local one), made with `cryptography`;
* `senate.security.server_tls`: the TLS contexts of a node's client port and metrics
  endpoint (client certificates none, optional or required), reloaded when their files change;
* `senate.security.client_security`: `ClientSecurity`, how a client connects (TLS, a client
  certificate, `AUTH [user] password`), shared by `senate.Client`, `senate status`, the load
  generator and `senate bench`.
"""
