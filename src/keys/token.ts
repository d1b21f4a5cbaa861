/** An HTTP token (RFC 9110 §5.6.2): how a method and a header field name are spelled. */
export const httpToken = /^[!#$%&'*+.^`|~\w-]+$/;
