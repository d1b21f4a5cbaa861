/**
Whether an operation only reads its resources or changes them. The same union as the public
`OperationKind` of `keys/types.ts` (a type test keeps them identical): the core defines its own so
that it depends on no other layer.
*/
export type OperationKind = 'read' | 'write';
