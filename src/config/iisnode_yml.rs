//! placeholder: filled by the iisnode.yml parser work.
