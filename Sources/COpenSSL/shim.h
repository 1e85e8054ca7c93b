#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

/* EVP_RSA_gen is a macro over EVP_PKEY_Q_keygen (variadic): wrap it for Swift. */
static inline EVP_PKEY *sealpost_rsa_keygen(unsigned int bits, unsigned long exponent) {
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    EVP_PKEY *pkey = NULL;
    BIGNUM *e = NULL;
    if (ctx == NULL) return NULL;
    if (EVP_PKEY_keygen_init(ctx) <= 0) goto done;
    if (EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)bits) <= 0) goto done;
    e = BN_new();
    if (e == NULL || !BN_set_word(e, exponent)) goto done;
    if (EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, e) <= 0) goto done;
    if (EVP_PKEY_keygen(ctx, &pkey) <= 0) pkey = NULL;
done:
    BN_free(e);
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <openssl/bio.h>
#include <string.h>

/* A fresh P-256 (prime256v1) key. */
static inline EVP_PKEY *sealpost_p256_keygen(void) {
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *pkey = NULL;
    if (ctx == NULL) return NULL;
    if (EVP_PKEY_keygen_init(ctx) > 0 && EVP_PKEY_CTX_set_group_name(ctx, "P-256") > 0) {
        if (EVP_PKEY_generate(ctx, &pkey) <= 0) pkey = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

static inline int sealpost_add_extension(X509 *cert, X509 *issuer, int nid, const char *value) {
    X509V3_CTX v3;
    X509_EXTENSION *extension;
    int ok;
    X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
    extension = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (extension == NULL) return 0;
    ok = X509_add_ext(cert, extension, -1);
    X509_EXTENSION_free(extension);
    return ok;
}

/*
 * An X.509 v3 certificate for `subjectKey`, signed with ECDSA-SHA256 (or the key's own
 * scheme) by `issuerKey`; `issuer` NULL makes it self-signed. `subjectAltNames` is in
 * OpenSSL's configuration syntax ("DNS:localhost,IP:127.0.0.1"), or NULL; `isCA` makes a
 * CA certificate (basicConstraints CA:TRUE, keyCertSign) instead of a TLS server's.
 * `serial` holds 16 random bytes. Returns NULL on any failure.
 */
static inline X509 *sealpost_make_certificate(EVP_PKEY *subjectKey, EVP_PKEY *issuerKey, X509 *issuer,
                                              const char *commonName, const char *subjectAltNames, int isCA,
                                              long validDays, const unsigned char *serial) {
    X509 *cert = X509_new();
    X509_NAME *name = NULL;
    BIGNUM *serialNumber = NULL;
    int ok = 0;
    if (cert == NULL) return NULL;
    if (!X509_set_version(cert, 2)) goto done;
    serialNumber = BN_bin2bn(serial, 16, NULL);
    if (serialNumber == NULL) goto done;
    BN_clear_bit(serialNumber, 127); /* a positive INTEGER */
    if (BN_to_ASN1_INTEGER(serialNumber, X509_get_serialNumber(cert)) == NULL) goto done;
    /* Valid from a day ago, so that a client whose clock lags a little accepts it. */
    if (X509_gmtime_adj(X509_getm_notBefore(cert), -86400L) == NULL) goto done;
    if (X509_gmtime_adj(X509_getm_notAfter(cert), validDays * 86400L) == NULL) goto done;
    if (!X509_set_pubkey(cert, subjectKey)) goto done;
    name = X509_NAME_new();
    if (name == NULL) goto done;
    if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)commonName, -1, -1, 0)) goto done;
    if (!X509_set_subject_name(cert, name)) goto done;
    if (!X509_set_issuer_name(cert, issuer != NULL ? X509_get_subject_name(issuer) : name)) goto done;
    {
        X509 *signer = issuer != NULL ? issuer : cert;
        if (isCA) {
            if (!sealpost_add_extension(cert, signer, NID_basic_constraints, "critical,CA:TRUE")) goto done;
            if (!sealpost_add_extension(cert, signer, NID_key_usage, "critical,keyCertSign,cRLSign")) goto done;
        } else {
            if (!sealpost_add_extension(cert, signer, NID_basic_constraints, "critical,CA:FALSE")) goto done;
            if (!sealpost_add_extension(cert, signer, NID_key_usage, "critical,digitalSignature")) goto done;
            if (!sealpost_add_extension(cert, signer, NID_ext_key_usage, "serverAuth")) goto done;
        }
        if (!sealpost_add_extension(cert, signer, NID_subject_key_identifier, "hash")) goto done;
        if (issuer != NULL && !sealpost_add_extension(cert, signer, NID_authority_key_identifier, "keyid:always")) goto done;
        if (subjectAltNames != NULL && !sealpost_add_extension(cert, signer, NID_subject_alt_name, subjectAltNames)) goto done;
    }
    if (X509_sign(cert, issuerKey, EVP_sha256()) <= 0) goto done;
    ok = 1;
done:
    X509_NAME_free(name);
    BN_free(serialNumber);
    if (!ok) {
        X509_free(cert);
        return NULL;
    }
    return cert;
}

/* The bytes a memory BIO holds (valid until the BIO is written to or freed). */
static inline long sealpost_bio_contents(BIO *bio, char **data) {
    return BIO_get_mem_data(bio, data);
}

/* The end-to-end primitives: HKDF (EVP_PKEY_HKDF), HMAC, CRYPTO_memcmp. */
#include <openssl/kdf.h>
#include <openssl/hmac.h>
#include <openssl/crypto.h>
